"""The `[limit_variants]` table of an item manifest: validated against the application form, refused when malformed."""
from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import services
from engine.catalog import PROCESSES_DIR
from engine.cli import main
from engine.errors import InvalidInput
from engine.forms import FORMS_DIR, FormRegistry
from engine.store.models import ProcessVersion
from engine.store.uow import reading

ITEM = "pollutant-discharge"
SHIPPED = '[limit_variants]\nfield = "management_class"\n\n[limit_variants.values.key]\nstatutory_limit = "30d"\n' \
          'promised_limit = "15wd"\n'


@pytest.fixture
def variants_copy(tmp_path):
    """A copy of the pollutant discharge item; `write(table)` puts `table` where its limit variants stand."""
    shutil.copy(PROCESSES_DIR / f"{ITEM}.bpmn", tmp_path / f"{ITEM}.bpmn")
    text = (PROCESSES_DIR / f"{ITEM}.item.toml").read_text(encoding="utf-8")
    assert SHIPPED in text

    def write(table: str) -> Path:
        path = tmp_path / f"{ITEM}.item.toml"
        path.write_text(text.replace(SHIPPED, table), encoding="utf-8")
        return path

    return write


def test_the_shipped_item_validates_with_its_variants(ow):
    path = PROCESSES_DIR / f"{ITEM}.item.toml"
    assert services.validate_paths(ow, [path]) == {str(path): []}


MALFORMED = [
    ('limit_variants = "management_class"\n', "manifest-limit-variants", "limit_variants must be a table", 26),
    ('[limit_variants]\nfield = "management_class"\n', "manifest-limit-variants", "(it has field)", 26),
    ('[limit_variants]\nfield = "management_class"\nvalue = "key"\n[limit_variants.values.key]\n'
     'statutory_limit = "30d"\n', "manifest-limit-variants", "(it has field, value, values)", 26),
    ('[limit_variants]\nfield = "industry"\n[limit_variants.values.key]\nstatutory_limit = "30d"\n',
     "manifest-limit-variants", "'industry' is not a choice", 27),
    ('[limit_variants]\nfield = "emission_permit_no"\n[limit_variants.values.key]\nstatutory_limit = "30d"\n',
     "manifest-limit-variants", "'emission_permit_no' is not a choice", 27),
    ('[limit_variants]\nfield = "management_class"\n[limit_variants.values.registration]\nstatutory_limit = "30d"\n',
     "manifest-limit-variants", "'registration' is not a value of management_class", 28),
    ('[limit_variants]\nfield = "management_class"\n[limit_variants.values.key]\nextension_limit = "15wd"\n',
     "manifest-limit-variants", "limit_variants.values.key may set only statutory_limit and promised_limit", 28),
    ('[limit_variants]\nfield = "management_class"\n[limit_variants.values.key]\n', "manifest-limit-variants",
     "limit_variants.values.key may set only", 28),
    ('[limit_variants]\nfield = "management_class"\n[limit_variants.values.key]\nstatutory_limit = "thirty days"\n',
     "manifest-limit", "limit_variants.values.key.statutory_limit: limit 'thirty days'", 29),
    ('[limit_variants]\nfield = "management_class"\n[limit_variants.values.key]\nstatutory_limit = "30d"\n'
     'promised_limit = "31d"\n', "promised-over-statutory", "promised limit 31d exceeds statutory limit 30d", 30),
    # The item's own promise (10wd) against a variant's shorter statutory limit: 10 working days never fit in 9 days.
    ('[limit_variants]\nfield = "management_class"\n[limit_variants.values.simplified]\nstatutory_limit = "9d"\n',
     "promised-over-statutory", "limit_variants.values.simplified: promised limit 10wd exceeds statutory limit 9d",
     28),
]


@pytest.mark.parametrize("table, code, message, line", MALFORMED)
def test_validate_names_the_file_line_and_field_of_a_malformed_variant_table(ow, variants_copy, table, code, message,
                                                                              line):
    path = variants_copy(table)
    (finding,) = services.validate_paths(ow, [path])[str(path)]
    assert (finding.code, finding.file, finding.line) == (code, str(path), line)
    assert message in finding.message and finding.hint


def test_deploy_refuses_a_malformed_variant_table_and_stores_nothing(ow, variants_copy):
    path = variants_copy(SHIPPED.replace('"30d"', '"30 days"'))
    with pytest.raises(InvalidInput) as err:
        services.deploy_paths(ow, [path], "designer1")
    assert [f.code for f in err.value.findings] == ["manifest-limit"]
    assert f"{path.name}: 1 error(s)" in str(err.value) and "limit_variants.values.key.statutory_limit" in str(err.value)
    with reading(ow.db) as session:
        assert session.scalar(select(func.count(ProcessVersion.id)).where(ProcessVersion.item_code == ITEM)) == 1


def test_a_changed_variant_publishes_a_new_version_that_new_cases_use(ow, variants_copy):
    path = variants_copy(SHIPPED.replace('promised_limit = "15wd"', 'promised_limit = "12wd"'))
    assert services.deploy_paths(ow, [path], "designer1") == [{"item": ITEM, "version": 2, "new": True}]
    with reading(ow.db) as session:
        stored = session.scalar(select(ProcessVersion.manifest).where(ProcessVersion.item_code == ITEM,
                                                                      ProcessVersion.version == 2))
    assert stored["limit_variants"] == {"field": "management_class",
                                        "values": {"key": {"statutory_limit": "30d", "promised_limit": "12wd"}}}


def test_the_validate_command_prints_the_finding_and_exits_1(ow, variants_copy):
    path = variants_copy(SHIPPED.replace('"management_class"', '"class"'))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["validate", str(path), "--db", ow.db.url]) == 1
    assert f"{path}:27: error manifest-limit-variants: limit_variants.field 'class' is not a choice" in out.getvalue()


@pytest.mark.parametrize("broken", ['{"type": 5}', "{not json"])
def test_a_broken_application_form_is_a_finding_not_a_crash(ow, tmp_path, broken):
    forms = tmp_path / "forms"
    shutil.copytree(FORMS_DIR, forms)
    (forms / f"{ITEM}-application.json").write_text(broken, encoding="utf-8")
    path = PROCESSES_DIR / f"{ITEM}.item.toml"
    found = services.validate_paths(replace(ow, forms=FormRegistry(forms)), [path])[str(path)]
    assert [(f.code, f.line) for f in found] == [("manifest-limit-variants", 27)]
    assert f"forms/{ITEM}-application.json" in found[0].message
