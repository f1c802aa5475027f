"""The safe expression language: whitelist, runtime guards, JUEL translation and the SpiffWorkflow script engine."""
from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.expressions import (
    ExpressionError,
    SafeEnvironment,
    SafeScriptEngine,
    check,
    evaluate,
    is_empty,
    is_juel,
    register_function,
    translate_juel,
)

# ---- allowed expressions --------------------------------------------------------------------------------------------

ALLOWED: list[tuple[str, dict[str, Any], Any]] = [
    ("amount > 100", {"amount": 150}, True),
    ("amount <= 100", {"amount": 150}, False),
    ("1 < x < 10", {"x": 5}, True),
    ("status in ('new', 'open')", {"status": "open"}, True),
    ("status not in ['closed']", {"status": "closed"}, False),
    ("x is None", {"x": None}, True),
    ("x is not None", {"x": 0}, True),
    ("True is x", {"x": True}, True),
    ("a and not b or c", {"a": True, "b": True, "c": False}, False),
    ("-x + +y", {"x": 2, "y": 5}, 3),
    ("7 // 2 + 7 % 3 - 1 / 4", {}, 3.75),
    ("2 ** 10", {}, 1024),
    ("2 ** -1", {}, 0.5),
    ("x * 2.5", {"x": 4}, 10.0),
    ("'ab' * 3", {}, "ababab"),
    ("[0] * 3", {}, [0, 0, 0]),
    ("'ab' + 'cd'", {}, "abcd"),
    ("10 % 4", {}, 2),
    ("data['kind'] == 'shop'", {"data": {"kind": "shop"}}, True),
    ("items[0]", {"items": [7, 8, 9]}, 7),
    ("items[1:]", {"items": [7, 8, 9]}, [8, 9]),
    ("items[::-1]", {"items": [7, 8, 9]}, [9, 8, 7]),
    ("'big' if amount > 100 else 'small'", {"amount": 5}, "small"),
    ("{'a': 1, 'b': 2}['b']", {}, 2),
    ("{1, 2} == {2, 1}", {}, True),
    ("(1, 'a', None, True, 2.5)", {}, (1, "a", None, True, 2.5)),
    ("len(items) >= 2", {"items": [1, 2]}, True),
    ("min(items) + max(items)", {"items": [3, 1, 2]}, 4),
    ("abs(-3)", {}, 3),
    ("round(2.567, 2)", {}, 2.57),
    ("round(2.5)", {}, 2),
    ("int('42') + float('1.5')", {}, 43.5),
    ("str(5) + 'x'", {}, "5x"),
    ("bool(0)", {}, False),
    ("sum(items)", {"items": [1, 2, 3]}, 6),
    ("any(flags) and not all(flags)", {"flags": [True, False]}, True),
    ("sorted(items)", {"items": [3, 1, 2]}, [1, 2, 3]),
    ("is_empty(comments)", {"comments": ""}, True),
    ("var('pass')", {"pass": True}, True),
    # Builtin names are not special: they resolve only from the task data.
    ("open == 'door'", {"open": "door"}, True),
    ("len", {"len": 3}, 3),
    ("申请金额 > 100", {"申请金额": 500}, True),
    ("  amount > 1\n", {"amount": 2}, True),
    ("(" * 150 + "1" + ")" * 150, {}, 1),  # redundant parentheses add no nesting
]


@pytest.mark.parametrize(("expr", "names", "expected"), ALLOWED)
def test_allowed_expressions_check_clean_and_evaluate(expr: str, names: dict[str, Any], expected: Any) -> None:
    assert check(expr) == []
    result = evaluate(expr, names)
    assert result == expected
    assert type(result) is type(expected)


def test_evaluation_is_cached_per_expression_not_per_data() -> None:
    assert evaluate("x + 1", {"x": 1}) == 2
    assert evaluate("x + 1", {"x": 41}) == 42


# ---- refused expressions --------------------------------------------------------------------------------------------

REFUSED: list[tuple[str, str]] = [
    ("__import__('os')", "call of '__import__' is not allowed"),
    ("__import__('os')", "name '__import__' is not allowed: names starting with '_' are reserved"),
    ("().__class__", "attribute access '.__class__' is not allowed"),
    ("().__class__.__base__.__subclasses__()", "attribute access '.__subclasses__' is not allowed"),
    ("().__class__.__base__.__subclasses__()", "only registered functions can be called, by bare name"),
    ("x.y", "attribute access '.y' is not allowed"),
    ("_secret", "name '_secret' is not allowed"),
    ("__builtins__", "name '__builtins__' is not allowed"),
    ("open('/etc/passwd')", "call of 'open' is not allowed: only registered functions can be called"),
    ("eval('1')", "call of 'eval' is not allowed"),
    ("exec('x=1')", "call of 'exec' is not allowed"),
    ("getattr(x, 'y')", "call of 'getattr' is not allowed"),
    ("type(x)", "call of 'type' is not allowed"),
    ("x(1)", "call of 'x' is not allowed"),
    ("x[0](1)", "only registered functions can be called, by bare name"),
    ("lambda: 1", "lambda is not allowed"),
    ("(lambda: 1)()", "lambda is not allowed"),
    ("[x for x in y]", "comprehensions are not allowed"),
    ("{x for x in y}", "comprehensions are not allowed"),
    ("{x: 1 for x in y}", "comprehensions are not allowed"),
    ("any(x for x in y)", "comprehensions are not allowed"),
    ("f'{x}'", "f-strings are not allowed"),
    ("[*x]", "starred unpacking (*) is not allowed"),
    ("len(*x)", "starred unpacking (*) is not allowed"),
    ("(y := 1)", "assignment expressions (:=) are not allowed"),
    ("{**x}", "dict unpacking (**) is not allowed"),
    ("sorted(x, reverse=True)", "keyword arguments are not allowed in calls"),
    ("sorted(x, **opts)", "keyword arguments are not allowed in calls"),
    ("2 ** x", "'**' needs a constant exponent between -10 and 10"),
    ("2 ** 11", "'**' needs a constant exponent between -10 and 10"),
    ("2 ** True", "'**' needs a constant exponent"),
    ("~x", "operator '~' is not allowed"),
    ("x << 1", "operator '<<' is not allowed"),
    ("x & y", "operator '&' is not allowed"),
    ("x @ y", "operator '@' is not allowed"),
    ("b'x'", "literal b'x' is not allowed"),
    ("1j", "literal 1j is not allowed"),
    ("...", "literal Ellipsis is not allowed"),
    ("await x", "Await expressions are not allowed"),
    ("(yield x)", "Yield expressions are not allowed"),
    ("x is 1", "'is' only compares with None, True or False; use '==' for values"),
    ("'a' is not x", "'is' only compares with None, True or False"),
    ("x is y", "'is' only compares with None, True or False"),
    ("var(x)", "var() takes exactly one string literal naming a variable"),
    ("var('__class__')", "name '__class__' is not allowed"),
    ("", "expression is empty"),
    ("   ", "expression is empty"),
    ("x = 1", "syntax error"),
    ("if x: y", "syntax error"),
    ("'" + "a" * 10_001 + "'", "expression is longer than 10000 characters"),
]


@pytest.mark.parametrize(("expr", "message"), REFUSED)
def test_refused_expressions_name_the_reason(expr: str, message: str) -> None:
    problems = check(expr)
    assert any(message in p for p in problems), problems
    with pytest.raises(ExpressionError) as info:
        evaluate(expr, {"x": [1], "y": [2], "opts": {}})
    assert message in info.value.reason
    assert info.value.expression == expr


def test_check_reports_every_problem_once() -> None:
    problems = check("open(x).read() + open(y).read()")
    assert problems.count("attribute access '.read' is not allowed") == 1
    assert any(p.startswith("call of 'open' is not allowed") for p in problems)


def test_check_rejects_non_strings() -> None:
    assert check(None) == ["expression must be a string"]  # type: ignore[arg-type]
    with pytest.raises(ExpressionError, match="must be a string"):
        evaluate(42, {})  # type: ignore[arg-type]


# ---- runtime errors --------------------------------------------------------------------------------------------------

RUNTIME_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("missing > 1", {}, "name 'missing' is not defined in task data"),
    ("open", {}, "name 'open' is not defined in task data"),
    ("x / 0", {"x": 1}, "division by zero"),
    ("x // 0", {"x": 1}, "division by zero"),
    ("x % 0", {"x": 1}, "division by zero"),
    ("data['missing']", {"data": {}}, "KeyError: 'missing'"),
    ("x + 'a'", {"x": 1}, "TypeError"),
    ("int('abc')", {}, "ValueError"),
    ("1e300 ** 10", {}, "OverflowError"),
]


@pytest.mark.parametrize(("expr", "names", "message"), RUNTIME_ERRORS)
def test_runtime_failures_become_expression_errors(expr: str, names: dict[str, Any], message: str) -> None:
    assert check(expr) == []
    with pytest.raises(ExpressionError) as info:
        evaluate(expr, names)
    assert message in info.value.reason
    assert message in str(info.value) and repr(expr) in str(info.value)


# ---- hostile inputs --------------------------------------------------------------------------------------------------

RESOURCE_ABUSE: list[tuple[str, dict[str, Any], str]] = [
    ("'a' * 10**9", {}, "result would hold 1000000000 items/characters"),
    ("[0] * 10**9", {}, "result would hold 1000000000 items/characters"),
    ("10**9 * 'a'", {}, "result would hold"),
    ("x * 10**6", {"x": "ab"}, "result would hold 2000000"),
    ("[[0] * 1000] * 10000", {}, "result would hold"),  # nested: each level alone looks small
    ("x + x", {"x": "a" * 600_000}, "result would hold 1200000"),
    ("'%*d' % (10**9, 1)", {}, "string formatting with '%' is not allowed"),
    ("((((9**10)**10)**10)**10)**10", {}, "power result would exceed"),
    ("round(5, -10**7)", {}, "round() precision must be between -100 and 100"),
    ("sum(x, [])", {"x": [[1], [2]]}, "sum() only adds numbers"),
]


@pytest.mark.parametrize(("expr", "names", "message"), RESOURCE_ABUSE)
def test_resource_abuse_fails_fast(expr: str, names: dict[str, Any], message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        evaluate(expr, names)
    assert message in info.value.reason
    assert time.perf_counter() - started < 1.0


DEEP = [
    "(" * 10_000 + "1" + ")" * 10_000,  # over the length limit
    "[" * 150 + "]" * 150,  # parses, but deeper than our limit
    "-(" * 150 + "x" + ")" * 150,
    "(" * 300 + "1" + ")" * 300,  # CPython's own parenthesis limit
    "-" * 5000 + "1",  # CPython raises MemoryError in the parser
    "not " * 2000 + "x",  # CPython raises RecursionError while building the tree
    "1" + "+1" * 4000,  # long left-leaning chain
    "x" + "[0]" * 2000,
]


@pytest.mark.parametrize("expr", DEEP, ids=lambda e: f"{e[:12]}...{len(e)}")
def test_deep_nesting_is_refused_not_crashing(expr: str) -> None:
    problems = check(expr)
    assert problems and any(("nested" in p or "longer" in p or "syntax error" in p) for p in problems), problems
    with pytest.raises(ExpressionError):
        evaluate(expr, {"x": 1})


def test_data_callables_are_never_called() -> None:
    called: list[bool] = []
    names = {"boom": lambda: called.append(True)}
    with pytest.raises(ExpressionError, match="call of 'boom' is not allowed"):
        evaluate("boom()", names)
    assert called == []


def test_task_data_cannot_shadow_registered_functions_or_helpers() -> None:
    names = {"x": [1, 2], "len": "not a function", "__ow_fn_len": lambda v: 999, "__ow_mul": lambda a, b: 0}
    assert evaluate("len(x)", names) == 2
    assert evaluate("x * 2", names) == [1, 2, 1, 2]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab01()+-*/%<>=!&|[]'\" .,:?_$#{}notadrempyul", max_size=60))
def test_fuzzed_input_only_ever_raises_expression_error(text: str) -> None:
    assert isinstance(check(text), list)
    assert isinstance(check("${" + text + "}"), list)
    for expr in (text, "${" + text + "}"):
        try:
            evaluate(expr, {"a": 1, "b": [1, 2], "d": {"k": 1}})
        except ExpressionError as exc:
            assert exc.reason


# ---- registry --------------------------------------------------------------------------------------------------------

def test_register_function_makes_it_callable_and_refreshes_checks() -> None:
    assert any("call of 'ow_test_triple'" in p for p in check("ow_test_triple(2)"))
    register_function("ow_test_triple", lambda v: v * 3)
    assert check("ow_test_triple(2)") == []
    assert evaluate("ow_test_triple(x)", {"x": 4}) == 12


@pytest.mark.parametrize("name", ["_hidden", "var", "class", "not an identifier", "__import__"])
def test_register_function_refuses_reserved_names(name: str) -> None:
    with pytest.raises(ValueError, match="cannot register"):
        register_function(name, len)


def test_register_function_refuses_non_callables() -> None:
    with pytest.raises(TypeError, match="not callable"):
        register_function("ow_test_value", 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("", True), ([], True), ({}, True), (set(), True),
                                                 ((), True), ("x", False), ([0], False), (0, False), (False, False)])
def test_is_empty(value: Any, expected: bool) -> None:
    assert is_empty(value) is expected


# ---- JUEL ------------------------------------------------------------------------------------------------------------

JUEL: list[tuple[str, str, dict[str, Any], Any]] = [
    ("${approved == 'true'}", "approved == 'true'", {"approved": "true"}, True),
    ("${!pass}", "not var('pass')", {"pass": False}, True),
    ("${days > 3 && urgent}", "days > 3 and urgent", {"days": 5, "urgent": True}, True),
    ("#{approved}", "approved", {"approved": True}, True),
    ("${a eq 'x'}", "a == 'x'", {"a": "x"}, True),
    ("${a ne b}", "a != b", {"a": 1, "b": 1}, False),
    ("${x gt 1 and y le 2}", "x > 1 and y <= 2", {"x": 2, "y": 2}, True),
    ("${x lt 1 || x ge 10}", "x < 1 or x >= 10", {"x": 5}, False),
    ("${not empty comments}", "not is_empty(comments)", {"comments": ""}, False),
    ("${empty list}", "is_empty(list)", {"list": []}, True),
    ("${nrOfCompletedInstances / nrOfInstances >= 0.5}", "nrOfCompletedInstances / nrOfInstances >= 0.5",
     {"nrOfCompletedInstances": 2, "nrOfInstances": 4}, True),
    ("${nrOfActiveInstances == 0}", "nrOfActiveInstances == 0", {"nrOfActiveInstances": 0}, True),
    ("${a != null}", "a != None", {"a": None}, False),
    ("${x == true}", "x == True", {"x": True}, True),
    ("${x == false}", "x == False", {"x": False}, True),
    ("${x ? 1 : 2}", "1 if x else 2", {"x": False}, 2),
    ("${a ? b ? 1 : 2 : 3}", "(1 if b else 2) if a else 3", {"a": True, "b": False}, 2),
    ("${s == 'a && b || !c'}", "s == 'a && b || !c'", {"s": "a && b || !c"}, True),
    ("${s == \"say \\\"hi\\\"\"}", "s == 'say \"hi\"'", {"s": 'say "hi"'}, True),
    ("${'it\\'s' == s}", "\"it's\" == s", {"s": "it's"}, True),
    # JUEL precedence differs from Python's: these must keep JUEL's meaning.
    ("${!a == b}", "(not a) == b", {"a": False, "b": True}, True),
    ("${a < b == c}", "(a < b) == c", {"a": 1, "b": 2, "c": True}, True),
    ("${(a || b) && c}", "(a or b) and c", {"a": False, "b": True, "c": True}, True),
    ("${a - (b - c)}", "a - (b - c)", {"a": 10, "b": 5, "c": 2}, 7),
    ("${-a * b}", "-a * b", {"a": 2, "b": 3}, -6),
    ("${x div 2 + x mod 3}", "x / 2 + x % 3", {"x": 7}, 4.5),
    ("${m['k'] == 'v'}", "m['k'] == 'v'", {"m": {"k": "v"}}, True),
    ("${items[0] > 1.5e1}", "items[0] > 15.0", {"items": [20]}, True),
    ("${count >= .5}", "count >= 0.5", {"count": 1}, True),
    ("  ${ amount > 100 }  ", "amount > 100", {"amount": 101}, True),
    ("${申请人 == '张三'}", "申请人 == '张三'", {"申请人": "张三"}, True),
]


@pytest.mark.parametrize(("juel", "python", "names", "expected"), JUEL)
def test_juel_translation(juel: str, python: str, names: dict[str, Any], expected: Any) -> None:
    assert is_juel(juel)
    assert translate_juel(juel) == python
    assert check(python) == []
    assert check(juel) == []
    assert evaluate(python, names) == expected
    assert evaluate(juel, names) == expected  # evaluate translates JUEL itself


JUEL_REFUSED: list[tuple[str, str]] = [
    ("${execution.getVariable('x')}", "method call 'execution.getVariable(...)' is not supported"),
    ("${bean.method()}", "method call 'bean.method(...)' is not supported"),
    ("${fn:contains(a, 'b')}", "prefixed function 'fn:contains(...)' is not supported"),
    ("${a.b}", "property access 'a.b' is not supported"),
    ("${foo(1)}", "function call 'foo(...)' is not supported"),
    ("${a[0](1)}", "function call 'a[0](...)' is not supported"),
    ("${a} and ${b}", "composite or nested ${...} expressions are not supported"),
    ("${a instanceof b}", "'instanceof' is not supported"),
    ("${'abc}", "unterminated string literal"),
    ("${a = 1}", "unexpected '=' at position 2: unsupported character"),
    ("${a ; b}", "unsupported character"),
    ("${}", "unexpected end of expression"),
    ("${a b}", "unexpected 'b'"),
    ("${(a}", "unexpected end of expression"),
    ("${a ? b}", "unexpected end of expression"),
    ("${_x}", "name '_x' is not allowed"),
    ("${" + "(" * 50 + "a" + ")" * 50 + "}", "nested too deeply"),
    ("${" + "!" * 500 + "a}", "nested too deeply"),
    ("${'" + "a" * 10_001 + "'}", "longer than 10000 characters"),
    ("amount > 1", "not a JUEL expression"),
]


@pytest.mark.parametrize(("juel", "message"), JUEL_REFUSED)
def test_juel_outside_the_subset_is_refused_by_name(juel: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        translate_juel(juel)
    assert message in info.value.reason
    if is_juel(juel):
        assert any(message in p for p in check(juel))
        with pytest.raises(ExpressionError, match="not supported|unexpected|not allowed|nested|longer|unterminated"):
            evaluate(juel, {"a": 1, "b": 2})


@pytest.mark.parametrize(("text", "expected"), [("${a}", True), ("#{a}", True), (" ${a} \n", True), ("a", False),
                                                ("$a", False), ("{a}", False), ("${a", False), ("", False)])
def test_is_juel(text: str, expected: bool) -> None:
    assert is_juel(text) is expected


# ---- SpiffWorkflow ---------------------------------------------------------------------------------------------------

def _process(body: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="https://onewindow.test">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    {body}
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def _gateway(high: str, low: str) -> str:
    return _process(f"""
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw"/>
    <bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="high">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{high}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="low">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{low}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:task id="high"/>
    <bpmn:task id="low"/>
    <bpmn:sequenceFlow id="f3" sourceRef="high" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="low" targetRef="end"/>""")


def _run(xml: str, **data: Any) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(etree.fromstring(xml.encode()), filename="test.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("p"), script_engine=SafeScriptEngine())
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    workflow.do_engine_steps()
    return workflow


def _ready(workflow: BpmnWorkflow) -> list[str]:
    return [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY)]


@pytest.mark.parametrize(("high", "low"), [("amount &gt; 100", "amount &lt;= 100"),
                                           ("${amount gt 100}", "#{amount &lt;= 100}")])
@pytest.mark.parametrize(("amount", "branch"), [(150, "high"), (100, "low"), (5, "low")])
def test_spiff_gateway_takes_the_branch_the_condition_selects(high: str, low: str, amount: int, branch: str) -> None:
    workflow = _run(_gateway(high, low), amount=amount)
    assert _ready(workflow) == [branch]
    assert isinstance(workflow.script_engine, SafeScriptEngine)


@pytest.mark.parametrize(("condition", "message"), [
    ("__import__('os').getcwd()", "call of '__import__' is not allowed"),
    ("().__class__.__base__.__subclasses__()", "attribute access '.__class__' is not allowed"),
    ("boom()", "call of 'boom' is not allowed"),
    ("missing &gt; 1", "name 'missing' is not defined in task data"),
])
def test_spiff_gateway_refuses_hostile_conditions_without_running_them(condition: str, message: str) -> None:
    called: list[bool] = []
    with pytest.raises(WorkflowTaskException) as info:
        _run(_gateway(condition, "True"), amount=1, boom=lambda: called.append(True))
    assert message in str(info.value)
    assert "Error evaluating expression" in str(info.value)
    assert info.value.error_type == "ExpressionError"
    assert called == []


def test_spiff_script_task_is_refused() -> None:
    xml = _process("""
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="script"/>
    <bpmn:scriptTask id="script"><bpmn:script>ran = True</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f1" sourceRef="script" targetRef="end"/>""")
    with pytest.raises(WorkflowTaskException, match="script tasks and pre/post scripts are not allowed in OneWindow"):
        _run(xml, amount=1)


def test_safe_environment_merges_external_context_with_task_data_first() -> None:
    env = SafeEnvironment()
    assert env.evaluate("a + b", {"a": 1}, {"b": 2}) == 3
    assert env.evaluate("a", {"a": "task"}, {"a": "data object"}) == "task"
    assert env.evaluate("${a eq 1}", {"a": 1}) is True
    with pytest.raises(ExpressionError, match="not allowed in OneWindow"):
        env.execute("import os", {})


def _review_then_wait(cardinality: str, completion: str, duration: str) -> str:
    return _process(f"""
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="review"/>
    <bpmn:task id="review">
      <bpmn:multiInstanceLoopCharacteristics isSequential="false">
        <bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>
        <bpmn:completionCondition>{completion}</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:task>
    <bpmn:sequenceFlow id="f1" sourceRef="review" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>""")


def test_spiff_multi_instance_and_timer_expressions_use_the_safe_engine() -> None:
    workflow = _run(_review_then_wait("reviewers * 2", "${approved}", "delay"), reviewers=2, approved=False,
                    delay="PT0S")
    assert _ready(workflow) == ["review"] * 4  # cardinality evaluated
    first = workflow.get_tasks(state=TaskState.READY)[0]
    first.data["approved"] = True
    first.run()
    workflow.do_engine_steps()  # JUEL completion condition ends the other three instances
    workflow.refresh_timers()  # timer duration 'PT0S' read from task data
    workflow.do_engine_steps()
    assert workflow.is_completed()


@pytest.mark.parametrize(("cardinality", "duration", "message"), [
    ("reviewers.__len__()", "'PT0S'", "attribute access '.__len__' is not allowed"),
    ("1", "__import__('time')", "call of '__import__' is not allowed"),
])
def test_spiff_multi_instance_and_timer_refuse_hostile_expressions(cardinality: str, duration: str,
                                                                   message: str) -> None:
    with pytest.raises(WorkflowTaskException, match=re.escape(message)):
        workflow = _run(_review_then_wait(cardinality, "True", duration), reviewers=[1])
        workflow.get_tasks(state=TaskState.READY)[0].run()
        workflow.do_engine_steps()
