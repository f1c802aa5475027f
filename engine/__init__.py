"""OneWindow's engine: catalogue, BPMN loading, workflow runtime, clock, history, store and use cases."""
