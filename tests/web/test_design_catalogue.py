"""The designer's pages for called processes (上级流程) and bundles (一件事): the list, each entry's versions and BPMN
as stored, and uploading a .process.toml (with its BPMN) or .bundle.toml to check and publish; refusals store nothing."""
from __future__ import annotations

import html
import re
import tempfile
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import services
from engine.catalog import PROCESSES_DIR
from engine.errors import Forbidden
from engine.store.catalogue_models import CatalogueEntry
from engine.store.models import ProcessVersion
from engine.store.uow import reading

COUNTY = "county-allowance-review"
BUNDLE = "company-opening"
UPLOAD = "/design/catalogue/upload"
DEPLOY = "/design/catalogue/deploy"
# A department named on a called process's task: its tasks belong to the publishing department (a finding).
FOREIGN_TASK = ('camunda:formKey="higher-review">', 'camunda:formKey="higher-review"><bpmn:extensionElements>'
                '<camunda:properties><camunda:property name="department" value="town-centre" />'
                '</camunda:properties></bpmn:extensionElements>')


def shipped(name: str) -> bytes:
    """A file of the shipped catalogue."""
    return (PROCESSES_DIR / name).read_bytes()


def county_files(manifest: bytes | None = None, bpmn: bytes | None = None) -> dict:
    """The county's called process as a form posts it, either file replaced when given."""
    return {"manifest": (BytesIO(manifest or shipped(f"{COUNTY}.process.toml")), f"{COUNTY}.process.toml"),
            "bpmn": (BytesIO(bpmn or shipped(f"{COUNTY}.bpmn")), f"{COUNTY}.bpmn")}


def changed_county_bpmn() -> bytes:
    """The county's BPMN with different content, still valid."""
    return shipped(f"{COUNTY}.bpmn").replace(b"</bpmn:definitions>", b"<!-- v2 --></bpmn:definitions>")


def footprint(ow) -> tuple[int, int]:
    """How many catalogue entry versions and item versions are published."""
    with reading(ow.db) as s:
        return (s.scalar(select(func.count()).select_from(CatalogueEntry)),
                s.scalar(select(func.count()).select_from(ProcessVersion)))


def staging_folders() -> set[Path]:
    """The private folders uploads are checked in that still exist."""
    return set(Path(tempfile.gettempdir()).glob("onewindow-upload-*"))


def text(response) -> str:
    """A page's HTML."""
    return response.get_data(as_text=True)


def deploy(designer, files: dict, checked=None):
    """Publish from the page that checked the files, choosing them again (posted straight, with a one-time token
    of another of the designer's pages, when no check passed)."""
    tokens = designer.tokens_in(checked) if checked is not None else designer.tokens("/auth/me")
    return designer.client.post(DEPLOY, content_type="multipart/form-data", data={**tokens, **files})


def test_the_list_shows_every_called_process_and_bundle_with_publisher_version_and_who_pins_it(as_user):
    page = text(as_user("designer1").client.get("/design/catalogue"))
    county = re.search(rf'<tr id="entry-process-{COUNTY}">(.*?)</tr>', page, re.S).group(1)
    assert "被调用流程" in county and "县民政局" in county and "县级" in county
    assert "v1" in county and "admin" in county and "2026-03-10 10:00" in county
    assert re.search(r"min-living-allowance v1</small> → v1", county)
    province = re.search(r'<tr id="entry-process-province-medical-review">(.*?)</tr>', page, re.S).group(1)
    assert "省卫生健康委员会" in province and "省级" in province and "medical-institution v1" in province
    bundle = re.search(rf'<tr id="entry-bundle-{BUNDLE}">(.*?)</tr>', page, re.S).group(1)
    assert "一件事" in bundle and "市政务服务中心" in bundle
    assert all(f"#item-{code}" in bundle for code in ("company-registration", "seal-engraving", "tax-registration"))
    # Called processes first, then bundles.
    assert page.index("entry-process-") < page.index("entry-bundle-")


def test_the_pages_read_in_english(as_user):
    designer = as_user("designer1")
    page = text(designer.client.get("/design/catalogue?lang=en"))
    assert "Called processes and bundles" in page and "Publishing department (level)" in page
    assert "County Civil Affairs Bureau" in page and "<small>county</small>" in page
    entry = text(designer.client.get(f"/design/catalogue/process/{COUNTY}"))
    assert "Version history" in entry and "BPMN source (as stored)" in entry


def test_a_called_process_page_shows_its_history_callers_and_bpmn_as_stored(as_user, ow):
    page = text(as_user("designer1").client.get(f"/design/catalogue/process/{COUNTY}"))
    with reading(ow.db) as s:
        stored = s.scalar(select(CatalogueEntry.bpmn_xml).where(CatalogueEntry.code == COUNTY))
    assert html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", page, re.S).group(1)) == stored
    assert page.count("<svg") == 1 and 'id="version-1" aria-current="true"' in page
    assert "<code>county_allowance_review</code>" in page and "《社会救助暂行办法》第十一条" in page
    assert "min-living-allowance v1" in re.search(r'id="callers">(.*?)</section>', page, re.S).group(1)


def test_a_bundle_page_shows_its_members_and_the_fields_each_takes(as_user):
    page = text(as_user("designer1").client.get(f"/design/catalogue/bundle/{BUNDLE}/v1"))
    members = re.search(r'<table id="members">(.*?)</table>', page, re.S).group(1)
    assert "公章刻制备案" in members and "<code>company_name, seal_count</code>" in members
    assert "1wd" in page and "<code>company-opening-application</code>" in page and "<svg" not in page


@pytest.mark.parametrize("url", ["/design/catalogue/process/no-such-process", f"/design/catalogue/process/{COUNTY}/v9",
                                 f"/design/catalogue/process/{COUNTY}/v0", f"/design/catalogue/bundle/{COUNTY}",
                                 f"/design/catalogue/item/{COUNTY}"])
def test_an_unknown_entry_version_or_kind_is_not_found(as_user, url):
    assert as_user("designer1").client.get(url).status_code == 404


def test_a_new_called_process_version_is_checked_published_and_republishes_its_callers(as_user, ow):
    designer = as_user("designer1")
    entries, item_versions = footprint(ow)
    checked = designer.submit(UPLOAD, UPLOAD, county_files(bpmn=changed_county_bpmn()),
                              content_type="multipart/form-data")
    assert checked.status_code == 200 and 'id="no-findings"' in text(checked) and "<svg" in text(checked)
    published = deploy(designer, county_files(bpmn=changed_county_bpmn()), checked)
    assert published.status_code == 302 and published.headers["Location"] == f"/design/catalogue/process/{COUNTY}"
    page = text(designer.client.get(published.headers["Location"]))
    assert f"已发布 {COUNTY} 第 2 版。" in page and "调用它的事项 min-living-allowance 随之发布第 2 版。" in page
    assert "&lt;!-- v2 --&gt;" in page and 'id="version-2" aria-current="true"' in page
    history = re.search(r'id="history">(.*?)</section>', page, re.S).group(1)
    assert re.search(r'id="version-2".*min-living-allowance v2.*id="version-1".*min-living-allowance v1', history, re.S)
    assert "min-living-allowance v2</small> → v2" in text(designer.client.get("/design/catalogue"))
    calls = text(designer.client.get("/design/"))
    assert f'href="/design/catalogue/process/{COUNTY}/v2">{COUNTY} v2</a>' in calls
    assert footprint(ow) == (entries + 1, item_versions + 1)


def test_the_same_content_again_publishes_nothing(as_user, ow):
    designer = as_user("designer1")
    before = footprint(ow)
    checked = designer.submit(UPLOAD, UPLOAD, county_files(), content_type="multipart/form-data")
    published = deploy(designer, county_files(), checked)
    assert "内容与当前版本相同，未发布新版本。" in text(designer.client.get(published.headers["Location"]))
    assert footprint(ow) == before


def test_a_changed_bundle_is_published_as_its_next_version(as_user, ow):
    designer = as_user("designer1")
    manifest = shipped(f"{BUNDLE}.bundle.toml").replace("企业开办“一件事”".encode(), "企业开办一件事（新版）".encode())
    files = lambda: {"manifest": (BytesIO(manifest), f"{BUNDLE}.bundle.toml")}  # noqa: E731  (a fresh stream per post)
    checked = designer.submit(UPLOAD, UPLOAD, files(), content_type="multipart/form-data")
    assert checked.status_code == 200 and 'id="no-findings"' in text(checked)
    published = deploy(designer, files(), checked)
    assert published.headers["Location"] == f"/design/catalogue/bundle/{BUNDLE}"
    page = text(designer.client.get(published.headers["Location"]))
    assert "企业开办一件事（新版）" in page and 'id="version-2"' in page and 'id="version-1"' in page


def test_findings_on_a_called_process_are_marked_on_its_diagram_and_it_cannot_be_published(as_user, ow):
    designer = as_user("designer1")
    before = footprint(ow)
    bad = shipped(f"{COUNTY}.bpmn").replace(*(part.encode() for part in FOREIGN_TASK), 1)
    checked = designer.submit(UPLOAD, UPLOAD, county_files(bpmn=bad), content_type="multipart/form-data")
    page = text(checked)
    assert checked.status_code == 422 and "called-process-department" in page
    assert re.search(r'id="higher_review" class="[^"]*overdue"', page) and 'id="deploy"' not in page
    # Posted straight to the deploy route all the same: refused with the finding, nothing published.
    refused = deploy(designer, county_files(bpmn=bad))
    assert refused.status_code == 422 and "called-process-department" in text(refused)
    assert footprint(ow) == before


HOSTILE = {
    "bpmn outside the upload": ({"manifest": (shipped(f"{COUNTY}.process.toml").replace(
        f'bpmn = "{COUNTY}.bpmn"'.encode(), b'bpmn = "../../../etc/passwd"'), f"{COUNTY}.process.toml")},
        "manifest-bpmn"),
    "BPMN with a DTD": ({"bpmn": (shipped(f"{COUNTY}.bpmn").replace(
        b"<bpmn:definitions", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><bpmn:definitions', 1),
        f"{COUNTY}.bpmn")}, "xml-dtd"),
    "TOML that does not parse": ({"manifest": (b'code = "county-allowance-review\nname = [', f"{COUNTY}.process.toml")},
                                 "manifest-malformed"),
    "a manifest not in UTF-8": ({"manifest": ("name = '县级'".encode("gbk"), f"{COUNTY}.process.toml")},
                                "manifest-malformed"),
    "a manifest over the size limit": ({"manifest": (b"#" * (300 * 1024), f"{COUNTY}.process.toml")},
                                       "manifest-too-large"),
    "a bundle named after another code": ({"manifest": (shipped(f"{BUNDLE}.bundle.toml"), "other.bundle.toml"),
                                           "bpmn": None}, "bundle-code"),
}
REFUSED_FIELDS = {
    "no file chosen": ({"manifest": None, "bpmn": None}, "manifest", "请上传 .process.toml 或 .bundle.toml 文件"),
    "an item manifest": ({"manifest": (shipped("outdoor-ad.item.toml"), "outdoor-ad.item.toml"),
                          "bpmn": (shipped("outdoor-ad.bpmn"), "outdoor-ad.bpmn")},
                         "manifest", "请上传 .process.toml 或 .bundle.toml 文件"),
    "a path in the file name": ({"manifest": (shipped(f"{COUNTY}.process.toml"), f"../{COUNTY}.process.toml")},
                                "manifest", "文件名不能包含路径"),
    "a called process without its BPMN": ({"bpmn": None}, "bpmn", "被调用流程须与其 BPMN 文件一同上传"),
    "a bundle with a BPMN": ({"manifest": (shipped(f"{BUNDLE}.bundle.toml"), f"{BUNDLE}.bundle.toml")},
                             "bpmn", "一件事没有 BPMN 文件，请只上传 .bundle.toml"),
    "a BPMN that is not .bpmn": ({"bpmn": (shipped(f"{COUNTY}.bpmn"), f"{COUNTY}.sh")}, "bpmn", "请上传 .bpmn 文件"),
    "a BPMN over 2 MB": ({"bpmn": (b" " * (2 * 1024 * 1024 + 1), f"{COUNTY}.bpmn")}, "bpmn", "文件过大"),
}


def _posted(overrides: dict) -> dict:
    """The county's files with some replaced (as bytes and name) or left out (None)."""
    files = county_files()
    for field, value in overrides.items():
        if value is None:
            files.pop(field)
        else:
            files[field] = (BytesIO(value[0]), value[1])
    return files


@pytest.mark.parametrize("overrides, code", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_or_malformed_upload_is_refused_with_its_finding_and_stores_nothing(as_user, ow, overrides, code):
    designer = as_user("designer1")
    before, folders = footprint(ow), staging_folders()
    checked = designer.submit(UPLOAD, UPLOAD, _posted(overrides), content_type="multipart/form-data")
    assert checked.status_code == 422 and f"<code>{code}</code>" in text(checked) and 'id="deploy"' not in text(checked)
    assert "onewindow-upload-" not in text(checked)  # findings name the uploaded file, not where it was checked
    refused = deploy(designer, _posted(overrides))
    assert refused.status_code == 422 and f"<code>{code}</code>" in text(refused)
    assert footprint(ow) == before and staging_folders() <= folders


@pytest.mark.parametrize("overrides, field, message", REFUSED_FIELDS.values(), ids=REFUSED_FIELDS.keys())
def test_a_wrong_file_is_refused_beside_its_field_and_stores_nothing(as_user, ow, overrides, field, message):
    designer = as_user("designer1")
    before = footprint(ow)
    for response in (designer.submit(UPLOAD, UPLOAD, _posted(overrides), content_type="multipart/form-data"),
                     deploy(designer, _posted(overrides))):
        assert response.status_code == 422
        assert re.search(rf'id="error-{field}" role="alert">{re.escape(message)}<', text(response))
    assert footprint(ow) == before


@pytest.mark.parametrize("url", ["/design/catalogue", f"/design/catalogue/process/{COUNTY}",
                                 f"/design/catalogue/bundle/{BUNDLE}/v1", UPLOAD])
def test_only_designers_open_the_pages(as_user, browser, url):
    assert as_user("window1").client.get(url).status_code == 403
    assert as_user("admin").client.get(url).status_code == 200
    signed_out = browser.client.get(url)
    assert signed_out.status_code == 302 and signed_out.headers["Location"].startswith("/auth/login")


@pytest.mark.parametrize("url", [UPLOAD, DEPLOY])
def test_a_non_designer_cannot_check_or_publish_an_upload(as_user, ow, url):
    clerk = as_user("window1")
    before = footprint(ow)
    response = clerk.client.post(url, content_type="multipart/form-data",
                                 data={**clerk.tokens("/auth/me"), **county_files(bpmn=changed_county_bpmn())})
    assert response.status_code == 403 and footprint(ow) == before


def test_the_use_cases_refuse_a_non_designer_whatever_the_page_lets_through(ow):
    files = ((f"{COUNTY}.process.toml", shipped(f"{COUNTY}.process.toml")), (f"{COUNTY}.bpmn", changed_county_bpmn()))
    before = footprint(ow)
    with pytest.raises(Forbidden):
        services.designer.catalogue_entries(ow, "window1")
    with pytest.raises(Forbidden):
        services.designer.catalogue_entry(ow, "reviewer1", "process", COUNTY)
    with pytest.raises(Forbidden):
        services.designer.check_catalogue_file(ow, "zhangsan", *files)
    with pytest.raises(Forbidden):
        services.designer.deploy_catalogue_file(ow, "window1", *files)
    assert footprint(ow) == before
    assert services.designer.deploy_catalogue_file(ow, "designer1", *files)[0] == {
        "process": COUNTY, "version": 2, "new": True}


def test_publishing_needs_the_forms_one_time_token(as_user, ow):
    designer = as_user("designer1")
    before = footprint(ow)
    tokens = designer.tokens(UPLOAD)  # the check form carries no one-time token: only the deploy form does
    response = designer.client.post(DEPLOY, content_type="multipart/form-data",
                                    data={**tokens, **county_files(bpmn=changed_county_bpmn())})
    assert response.status_code == 400 and footprint(ow) == before
