"""BPMN files: safe XML loading, the OneWindow parser, lint rules and SVG rendering."""
