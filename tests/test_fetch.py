"""`surveys fetch` against a local portal: zips in INEI's layout built from the synthetic generator, served on
127.0.0.1 by a thread, with every failure the real portal can produce (HTTP errors, a web page instead of a zip, a
member missing, a connection dropped mid-file, no network). No test reaches any other address: the guard below
refuses any other connection."""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.errors import FetchError
from pipelines.fetch import fetch_round, plan_downloads, read_fetched
from pipelines.read import find_module_files
from pipelines.refresh import refresh
from tests.helpers import run_surveys, shared_path

SURVEY = "769"
HTML = b"<!DOCTYPE html><html><body>Error: el archivo no existe</body></html>"
DICTIONARY = "Diccionario de datos - Modulo {module}.pdf"  # named after the module, as INEI's PDFs are


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Any connection to an address other than 127.0.0.1 fails the test; proxies are not used."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"a test tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def spec(enpove_2022_spec):
    return enpove_2022_spec


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def module_zips(folder: Path, spec, fmt_dir: str) -> dict[str, bytes]:
    """The portal's zips of a synthetic round folder: `/<FMT>/769-Modulo<code>.zip`, each module's file under a
    folder named like the zip (as an analyst's script on GitHub opens `769-Modulo1719\\800 Género y
    victimización`); module 100's zip also holds a PDF named after the module and the SYNTHETIC marker."""
    zips = {}
    for module, found in find_module_files(folder, spec).items():
        code = spec.consolidated.inei_code if module == "consolidated" else spec.modules[module].inei_code
        stem = f"{SURVEY}-Modulo{code}"
        members = {f"{stem}/{found.path.name}": found.path.read_bytes()}
        if module == "100":
            members[f"{stem}/{DICTIONARY.format(module=module)}"] = b"%PDF-1.4 dictionary"
            members["SYNTHETIC.txt"] = (folder / "SYNTHETIC.txt").read_bytes()
        zips[f"/{fmt_dir}/{stem}.zip"] = zip_bytes(members)
    return zips


@pytest.fixture(scope="module")
def portal_files(tmp_path_factory, spec):
    """Zips of a small synthetic round (100 households) in SPSS and CSV, and of its consolidated person file."""
    from pipelines.synthetic import write_synthetic_round

    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_round(root / "modules", households=100, formats=("sav", "csv"))
    write_synthetic_round(root / "consolidated", households=100, formats=("csv",), consolidated=True)
    files = {**module_zips(root / "modules" / "sav", spec, "SPSS"), **module_zips(root / "modules" / "csv", spec, "CSV")}
    consolidated = module_zips(root / "consolidated", spec, "CSV")
    files["/CSV/769-Modulo1721.zip"] = consolidated["/CSV/769-Modulo1721.zip"]
    return files


class Portal(ThreadingHTTPServer):
    """A local stand-in for INEI's portal. `how[path]` picks a misbehaviour: an HTTP status, `html`, `drop`
    (the connection closes half-way through the body, every time), `drop_once`, `no_range` (Range ignored),
    `wrong_range` (a Range answered from byte 1) or `no_conditional` (If-None-Match ignored). `requests` logs (path, headers) of every GET."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files, self.how, self.requests, self.dropped = dict(files), {}, [], set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/iinei/srienaho/descarga"

    def gets(self, path: str) -> list[dict]:
        return [headers for p, headers in self.requests if p.endswith(path)]


class Handler(BaseHTTPRequestHandler):
    server: Portal

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        path = self.path.removeprefix("/iinei/srienaho/descarga")
        self.server.requests.append((path, dict(self.headers)))
        how = self.server.how.get(path, {})
        body = self.server.files.get(path)
        if "status" in how or body is None:
            self.send_error(how.get("status", 404))
        elif "html" in how:
            self._send(200, HTML, {"Content-Type": "text/html"})
        else:
            self._send_file(path, body, how)

    def _send(self, status: int, body: bytes, headers: dict[str, str], cut: bool = False) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def _send_file(self, path: str, body: bytes, how: dict) -> None:
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if self.headers.get("If-None-Match") == etag and "no_conditional" not in how:
            self.send_response(304)
            self.end_headers()
            return
        start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-")) if "Range" in self.headers else 0
        if "no_range" in how:
            start = 0
        elif "wrong_range" in how and start:
            start = 1
        cut = "drop" in how or ("drop_once" in how and path not in self.server.dropped)
        self.server.dropped.add(path)
        headers = {"ETag": etag, "Content-Type": "application/x-zip-compressed"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        self._send(206 if start else 200, body[start:], headers, cut=cut)


@pytest.fixture
def portal(portal_files):
    server = Portal(portal_files)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every path under `folder` with its content hash and inode: equal snapshots mean nothing was touched."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, hashlib.sha256(p.read_bytes()).hexdigest()
                                               if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def fetched_raw(tmp_path, portal, spec):
    """A raw folder holding an earlier, complete fetch of the CSV round."""
    raw = tmp_path / "raw"
    fetch_round(spec, raw, fmt="csv", base_url=portal.url)
    portal.requests.clear()
    return raw


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- end to end -------------------------------------------------------------------------------------------------


def test_fetch_refresh_then_report_end_to_end(tmp_path, portal, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_surveys("fetch", "enpove", "2022", "--base-url", portal.url, "--raw", "raw",
                         "--store", "store", "--refresh")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "fetched module 100 (INEI 1711)" in output and "stored enpove/2022" in output
    assert "module 800 (INEI 1718)" in output.split("fetched")[0] and " kB" in output  # a bar per download
    folder = tmp_path / "raw" / "enpove" / "2022"
    assert (folder / "769-Modulo1711" / "Características de la vivienda y del hogar.sav").is_file()
    assert not (folder / "769-Modulo1711" / DICTIONARY.format(module="100")).exists()  # the refresh would trip
    assert "not unpacked" in output
    record = read_fetched(folder)["downloads"]
    assert sorted(record) == ["100", "200", "300", "400", "500", "600", "700", "800"]
    assert record["100"]["url"] == f"{portal.url}/SPSS/769-Modulo1711.zip"
    assert record["100"]["sha256"] == hashlib.sha256(portal.files["/SPSS/769-Modulo1711.zip"]).hexdigest()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    report = run_surveys("report", "--store", "store", "--out", "report.html")
    assert report.exit_code == 0, report.output
    assert (tmp_path / "report.html").stat().st_size > 0


def test_second_fetch_of_unchanged_files_does_no_work(fetched_raw, portal, spec):
    before = snapshot(fetched_raw)
    report = fetch_round(spec, fetched_raw, fmt="csv", base_url=portal.url)
    assert report.fetched == [] and len(report.unchanged) == 8
    assert snapshot(fetched_raw) == before
    assert all(h.get("If-None-Match") for h in portal.gets(".zip"))  # every GET was conditional: 304, no body


def test_a_portal_ignoring_validators_still_does_no_work(fetched_raw, portal, spec):
    for path in portal.files:
        portal.how[path] = {"no_conditional": True}
    before = snapshot(fetched_raw)
    report = fetch_round(spec, fetched_raw, fmt="csv", base_url=portal.url)
    assert report.fetched == [] and snapshot(fetched_raw) == before  # same sha256: nothing unpacked or moved


def test_a_changed_file_is_fetched_again_and_its_old_members_go(fetched_raw, portal, spec):
    report = fetch_round(spec, fetched_raw, fmt="spss", modules=["100", "200"], base_url=portal.url)
    assert report.fetched == ["module 100 (INEI 1711)", "module 200 (INEI 1712)"]
    folder = fetched_raw / "enpove" / "2022" / "769-Modulo1711"
    assert sorted(p.suffix for p in folder.iterdir()) == [".sav"]  # the CSV fetched before is replaced
    assert read_fetched(folder.parent)["downloads"]["300"]["format"] == "csv"  # the others are kept


def test_a_connection_dropped_mid_file_is_resumed(tmp_path, portal, spec):
    portal.how["/SPSS/769-Modulo1712.zip"] = {"drop_once": True}
    fetch_round(spec, tmp_path, base_url=portal.url)
    ranges = [h.get("Range") for h in portal.gets("/SPSS/769-Modulo1712.zip")]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    record = read_fetched(tmp_path / "enpove" / "2022")["downloads"]["200"]
    assert record["sha256"] == hashlib.sha256(portal.files["/SPSS/769-Modulo1712.zip"]).hexdigest()


def test_a_dropped_download_restarts_when_the_server_ignores_range(tmp_path, portal, spec):
    portal.how["/SPSS/769-Modulo1712.zip"] = {"drop_once": True, "no_range": True}
    fetch_round(spec, tmp_path, modules=["100", "200"], base_url=portal.url)
    record = read_fetched(tmp_path / "enpove" / "2022")["downloads"]["200"]
    assert record["sha256"] == hashlib.sha256(portal.files["/SPSS/769-Modulo1712.zip"]).hexdigest()


def test_the_consolidated_file_is_fetched_only_when_asked(tmp_path, portal, spec):
    fetch_round(spec, tmp_path, fmt="csv", modules=["100,consolidated"], base_url=portal.url)
    assert sorted(read_fetched(tmp_path / "enpove" / "2022")["downloads"]) == ["100", "consolidated"]
    with pytest.raises(FetchError, match="consolidated file carries modules"):
        fetch_round(spec, tmp_path, fmt="csv", modules=["consolidated", "200"], base_url=portal.url)


def test_the_plan_comes_from_the_spec(spec):
    plan = plan_downloads(spec, "stata", "https://example.org/descarga/")
    assert [d.inei_code for d in plan] == ["1711", "1712", "1713", "1714", "1715", "1716", "1717", "1718"]
    assert plan[2].url == "https://example.org/descarga/STATA/769-Modulo1713.zip" and plan[2].optional == ("300_1",)
    assert [d.module for d in plan_downloads(spec, "csv", modules=["1721"])] == ["consolidated"]
    assert [d.module for d in plan_downloads(spec, "csv", modules=["100, 1712", "500"])] == ["100", "200", "500"]
    with pytest.raises(FetchError, match="not a module of enpove/2022"):
        plan_downloads(spec, "csv", modules=["900"])
    with pytest.raises(FetchError, match="format `xlsx`"):
        plan_downloads(spec, "xlsx")


# --- every error leaves the raw folder as it was ------------------------------------------------------------------


@pytest.mark.parametrize("status, words", [(404, "HTTP 404 Not Found"), (500, "HTTP 500"), (503, "HTTP 503")])
def test_http_errors_name_the_module_and_url(fetched_raw, portal, spec, status, words):
    portal.how["/SPSS/769-Modulo1714.zip"] = {"status": status}
    before = snapshot(fetched_raw)
    with pytest.raises(FetchError) as excinfo:
        fetch_round(spec, fetched_raw, base_url=portal.url)
    message = one_line_error(excinfo)
    assert words in message and "module 400 (INEI 1714)" in message
    assert f"{portal.url}/SPSS/769-Modulo1714.zip" in message
    assert snapshot(fetched_raw) == before


def test_a_connection_that_keeps_dropping_is_a_truncated_download(fetched_raw, portal, spec):
    portal.how["/SPSS/769-Modulo1712.zip"] = {"drop": True}
    before = snapshot(fetched_raw)
    with pytest.raises(FetchError) as excinfo:
        fetch_round(spec, fetched_raw, base_url=portal.url)
    assert "module 200 (INEI 1712): truncated download" in one_line_error(excinfo)
    assert len(portal.gets("/SPSS/769-Modulo1712.zip")) == 4  # resumed three times before giving up
    assert snapshot(fetched_raw) == before


def test_a_resumed_download_answered_from_the_wrong_byte(fetched_raw, portal, spec):
    portal.how["/SPSS/769-Modulo1712.zip"] = {"drop_once": True, "wrong_range": True}
    before = snapshot(fetched_raw)
    with pytest.raises(FetchError) as excinfo:
        fetch_round(spec, fetched_raw, base_url=portal.url)
    assert "module 200 (INEI 1712): the portal answered the resumed download from byte" in one_line_error(excinfo)
    assert snapshot(fetched_raw) == before


def test_a_web_page_instead_of_a_zip(fetched_raw, portal, spec):
    portal.how["/SPSS/769-Modulo1716.zip"] = {"html": True}
    before = snapshot(fetched_raw)
    with pytest.raises(FetchError) as excinfo:
        fetch_round(spec, fetched_raw, base_url=portal.url)
    assert "module 600 (INEI 1716): the portal answered with a web page (HTML), not a zip" in one_line_error(excinfo)
    assert snapshot(fetched_raw) == before


def damaged(body: bytes) -> bytes:
    middle = len(body) // 3
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]


@pytest.mark.parametrize("damage, words", [
    (lambda body: body[:-200], "cut short or corrupt"),  # the zip's directory is gone
    (damaged, "fails its CRC check"),  # a flipped byte in a member: its CRC (or its deflate stream) fails
])
def test_a_damaged_zip_on_the_server(fetched_raw, portal, spec, damage, words):
    portal.files["/SPSS/769-Modulo1716.zip"] = damage(portal.files["/SPSS/769-Modulo1716.zip"])
    before = snapshot(fetched_raw)
    with pytest.raises(FetchError, match=rf"module 600 .*{words}"):
        fetch_round(spec, fetched_raw, base_url=portal.url)
    assert snapshot(fetched_raw) == before


@pytest.mark.parametrize("members, words", [
    ({"769-Modulo1715/LEEME.txt": b"x"}, "member missing: no spss (.sav) file of module 500"),
    ({"769-Modulo1715/Salud.sav": b"x"}, "holds `769-Modulo1715/Salud.sav`, a file of module 400"),
    ({"../Educación.sav": b"x"}, "would be written outside the round folder"),
    ({"Educación.sav": b""}, "is empty"),
])
def test_a_zip_not_holding_what_the_spec_expects(fetched_raw, portal, spec, members, words):
    portal.files["/SPSS/769-Modulo1715.zip"] = zip_bytes(members)
    before = snapshot(fetched_raw)
    with pytest.raises(FetchError) as excinfo:
        fetch_round(spec, fetched_raw, base_url=portal.url)
    message = one_line_error(excinfo)
    assert "module 500 (INEI 1715)" in message and words in message
    assert snapshot(fetched_raw) == before


def test_no_network(tmp_path, spec):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError) as excinfo:
        fetch_round(spec, tmp_path / "raw", base_url=f"http://127.0.0.1:{port}/descarga")
    assert f"cannot reach 127.0.0.1:{port}" in one_line_error(excinfo) and "no network" in str(excinfo.value)
    assert not (tmp_path / "raw").exists()  # not even the folders a fetch makes


def test_a_file_already_there_for_a_module_is_not_doubled(fetched_raw, portal, spec):
    folder = fetched_raw / "enpove" / "2022"
    shutil.copy(folder / "769-Modulo1715" / "Educación.csv", folder / "ENPOVE2022_V_500 Educación.sav")
    before = snapshot(fetched_raw)
    with pytest.raises(FetchError, match=r"two files for one module .*module 500"):
        fetch_round(spec, fetched_raw, fmt="spss", modules=["500"], base_url=portal.url)
    assert snapshot(fetched_raw) == before


def test_cli_errors_in_one_line_and_exit_1(fetched_raw, portal):
    portal.how["/SPSS/769-Modulo1711.zip"] = {"status": 404}
    before = snapshot(fetched_raw)
    result = run_surveys("fetch", "enpove", "2022", "--base-url", portal.url, "--raw",
                         str(fetched_raw), "--refresh")
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "error:" in output and "module 100 (INEI 1711): HTTP 404" in output and "is as it was" in output
    assert snapshot(fetched_raw) == before
    unknown = run_surveys("fetch", "enpove", "1999", "--raw", str(fetched_raw))
    assert unknown.exit_code == 1 and "no spec for enpove/1999" in unknown.output


# --- ENPOVE 2018: the codes the issue gives, on INEI's real chapters ------------------------------------------------


def test_enpove_2018_fetches_the_chapters_whose_codes_are_known_and_refreshes(tmp_path, enpove_2018_spec):
    """INEI's real 2018 chapters (read in place from ../shared) zipped as the portal names them: 642-Modulo<code>.
    Chapter 600's remittances file rides in 600's zip here (which zip INEI puts it in is not known)."""
    spec = enpove_2018_spec
    found = find_module_files(shared_path("data", "enpove", "2018"), spec)
    codes = {"100": "1416", "200": "1417", "400": "1421", "500": "1422", "600": "1423", "700": "1426"}
    files = {f"/SPSS/642-Modulo{code}.zip": zip_bytes({
        found[m].path.name: found[m].path.read_bytes()
        for m in (module, *(["600_630"] if module == "600" else []))
    }) for module, code in codes.items()}
    server = Portal(files)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        report = fetch_round(spec, tmp_path / "raw", base_url=server.url)
    finally:
        server.shutdown()
        server.server_close()
    assert report.fetched == [f"module {m} (INEI {c})" for m, c in codes.items()]
    assert "enpove/2018 modules 300, 300_318, 800: no INEI code in source.yaml (not known), not fetched" in report.notes
    folder = tmp_path / "raw" / "enpove" / "2018"
    assert sorted(find_module_files(folder, spec)) == ["100", "200", "400", "500", "600", "600_630", "700"]
    refreshed = refresh(tmp_path / "raw", tmp_path / "store")  # a store inside the raw folder is refused
    assert refreshed.written == ["enpove/2018"], refreshed.failed
    with pytest.raises(FetchError, match="module 800 has no inei_code"):
        plan_downloads(spec, "spss", modules=["800"])


def test_an_error_after_unpacking_leaves_a_same_named_file_untouched(fetched_raw, portal, spec):
    """The new round folder hard-links the old one's files: unpacking over one must not write through the link."""
    folder = fetched_raw / "enpove" / "2022"
    (folder / "769-Modulo1711" / "Características de la vivienda y del hogar.sav").write_bytes(b"placed by hand")
    shutil.copy(folder / "769-Modulo1715" / "Educación.csv", folder / "ENPOVE2022_V_500 Educación.sav")
    before = snapshot(fetched_raw)
    with pytest.raises(FetchError, match="two files for one module"):  # raised after module 100 is unpacked
        fetch_round(spec, fetched_raw, fmt="spss", modules=["100", "500"], base_url=portal.url)
    assert snapshot(fetched_raw) == before


def test_a_killed_fetchs_temporary_folder_is_cleared(fetched_raw, portal, spec):
    """A temporary folder left by a killed fetch would be taken for a round by the refresh: the next fetch removes it."""
    leftover = fetched_raw / "enpove" / ".2022.fetch-killed"
    (leftover / "round").mkdir(parents=True)
    fetch_round(spec, fetched_raw, fmt="csv", base_url=portal.url)
    assert not leftover.exists()


def test_a_damaged_fetch_record_is_named(fetched_raw, portal, spec):
    (fetched_raw / "enpove" / "2022" / "FETCHED.json").write_text("{", encoding="utf-8")
    with pytest.raises(FetchError, match=r"FETCHED\.json: not a fetch record .* Delete it"):
        fetch_round(spec, fetched_raw, fmt="csv", base_url=portal.url)


def test_stata_zips_are_fetched_too(tmp_path, portal, spec):
    import pyreadstat

    sav = zipfile.ZipFile(io.BytesIO(portal.files["/SPSS/769-Modulo1711.zip"]))
    member = next(n for n in sav.namelist() if n.endswith(".sav"))
    (tmp_path / "m.sav").write_bytes(sav.read(member))
    frame, _meta = pyreadstat.read_sav(str(tmp_path / "m.sav"), output_format="polars")
    pyreadstat.write_dta(frame, str(tmp_path / "m.dta"))
    dta = member.removesuffix(".sav") + ".dta"
    portal.files["/STATA/769-Modulo1711.zip"] = zip_bytes({dta: (tmp_path / "m.dta").read_bytes()})
    report = fetch_round(spec, tmp_path / "raw", fmt="stata", modules=["100"], base_url=portal.url)
    assert (tmp_path / "raw" / "enpove" / "2022" / dta).is_file()
    assert "the refresh needs module(s) 200 too: fetch them (--modules)" in report.notes
