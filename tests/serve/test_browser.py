"""The demo page in a real browser: Debian's chromium driven by playwright against the real server.

Starts `modulespack.serve.app.create_app` on the example graphs under uvicorn (a thread, a free port
on 127.0.0.1, the Host and Origin checks of `modulespack serve`), opens `/`, runs the TTS graph from a
typed sentence, runs an audio graph (ASR if there is one, else resynthesis or voice conversion) on an
uploaded WAV, runs a graph's example with one click, checks that a failed run leaves no earlier
outputs, that required inputs are checked before sending, that a big diagram stays readable, and
that the page at a phone's width (375 px) does not scroll sideways. No page may throw a JavaScript
error or break its Content-Security-Policy. Screenshots go to artifacts/screenshots/.

Skipped (with the reason) when /usr/bin/chromium, playwright, or the serve extra are missing.
Browsers are never downloaded: chromium is launched from /usr/bin/chromium.
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest
from servers import app_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
GRAPHS = REPO / "examples" / "graphs"
SHOTS = REPO / "artifacts" / "screenshots"
RUN_TIMEOUT_MS = 60_000
SENTENCE = "hello world this is a test of the speech demo"
API_KEY = "browser-test-key"

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (Debian package 'chromium'); the browser test needs it",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (the 'serve' extra)")
serve_app = pytest.importorskip("modulespack.serve.app", reason="modulespack.serve.app cannot be imported")


# --------------------------------------------------------------------------- server


def _get_json(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode("utf-8"))


@pytest.fixture(scope="module")
def server():
    """The real app on the example graphs folder, under uvicorn in a thread; yields its base URL."""
    from modulespack.serve.access import default_allowed_hosts
    yield from _serve(serve_app.create_app([str(GRAPHS)], allowed_hosts=default_allowed_hosts("127.0.0.1")))


@pytest.fixture(scope="module")
def keyed_server():
    """The arithmetic graph behind an API key."""
    yield from _serve(serve_app.create_app([str(GRAPHS / "arith.yaml")], api_keys=[API_KEY]),
                      headers={"X-API-Key": API_KEY})


def _serve(app, headers=None):
    with app_in_thread(app, headers=headers, timeout_s=60, stop_s=15) as base:
        yield base


@pytest.fixture(scope="module")
def graphs(server):
    return {g["name"]: g for g in _get_json(server + "/graphs")}


@pytest.fixture(scope="module")
def pw():
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(pw):
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
    try:
        yield b
    finally:
        b.close()


@contextlib.contextmanager
def _open_page(browser, url: str, permissions: tuple[str, ...] = ()):
    """A new 1280x900 page of `browser` at `url` (its context granted `permissions`); closed on
    exit, and then no JavaScript error may have been thrown on it, nor anything refused by its
    Content-Security-Policy (they collect in `js_errors`)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    if permissions:
        ctx.grant_permissions(list(permissions))
    pg = ctx.new_page()
    pg.set_default_timeout(RUN_TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    pg.js_errors = errors          # type: ignore[attr-defined]
    try:
        pg.goto(url, timeout=30_000)
        yield pg
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture()
def page(browser, server):
    with _open_page(browser, server + "/") as pg:
        pg.wait_for_selector("#graph-select:not([disabled])", timeout=30_000)
        yield pg


# --------------------------------------------------------------------------- helpers


def _shot(pg, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    print("screenshot:", path)
    return path


def _choose(pg, name: str) -> None:
    pg.select_option("#graph-select", name)
    pg.wait_for_function(
        "name => document.querySelector('#graph-select').value === name"
        " && document.querySelector('#inputs [data-port]') !== null", arg=name)


def _run_and_wait(pg) -> None:
    """Press Run; wait until the run ends (button back to Run), then fail with the page's error if any."""
    pg.click("#run-button")
    pg.wait_for_function(
        "() => { const b = document.querySelector('#run-button');"
        " return b.getAttribute('aria-busy') === 'false'; }", timeout=RUN_TIMEOUT_MS)
    if pg.is_visible("#error"):
        pytest.fail("the page shows an error after the run:\n" + pg.inner_text("#error"))
    pg.wait_for_selector("#outputs .output", timeout=10_000)


def _check_diagram_and_timings(pg) -> None:
    pg.wait_for_selector("#diagram svg", timeout=30_000)
    pg.wait_for_function("() => document.querySelectorAll('#timings tbody tr').length > 0", timeout=10_000)
    rows = pg.locator("#timings tbody tr").count()
    assert rows >= 1
    # the diagram is re-fetched with the run's timings: its labels carry milliseconds
    pg.wait_for_function("() => /\\d\\s*ms/.test(document.querySelector('#diagram svg').textContent)",
                         timeout=30_000)


def _first_with(graphs: dict, want_in: str, want_out: str | None) -> str | None:
    for name, g in graphs.items():
        kinds_in = {p.get("kind") for p in g.get("inputs", {}).values()}
        kinds_out = {p.get("kind") for p in g.get("outputs", {}).values()}
        if want_in in kinds_in and (want_out is None or want_out in kinds_out):
            return name
    return None


def _make_wav(path: Path) -> bool:
    """A spoken SENTENCE with flite when it is there (True), else a synthetic vowel-like signal (False)."""
    if shutil.which("flite"):
        try:
            subprocess.run(["flite", "-voice", "rms", "-t", SENTENCE, "-o", str(path)],
                           check=True, timeout=60, capture_output=True)
            if path.exists() and path.stat().st_size > 1000:
                return True
        except (subprocess.SubprocessError, OSError):
            pass
    sr = 16000
    t = np.arange(int(sr * 1.5)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 20)) * 0.2 * np.hanning(len(t))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return False


# --------------------------------------------------------------------------- tests


def test_tts_graph_speaks_a_typed_sentence(page, graphs):
    name = "tts" if "tts" in graphs else _first_with(graphs, "text", "audio")
    if name is None:
        pytest.skip(f"no TTS graph (text in, audio out) among the served graphs: {sorted(graphs)}")
    _choose(page, name)
    text_port = next(p for p, s in graphs[name]["inputs"].items() if s.get("kind") == "text")
    page.fill(f"#inputs [data-port='{text_port}'] textarea", "The quick brown fox jumps over the lazy dog.")
    _run_and_wait(page)

    audio = page.locator("audio.output-audio").first
    audio.wait_for(timeout=10_000)
    src = audio.get_attribute("src")
    assert src, "the output audio element has no src"
    # the browser can play it: metadata loads and the duration is positive
    page.wait_for_function("() => { const a = document.querySelector('audio.output-audio');"
                           " return a.readyState >= 1 && a.duration > 0; }", timeout=20_000)
    assert page.locator("#outputs a.download[download]").count() >= 1
    # the output spectrogram was drawn (a canvas with columns and rows)
    page.wait_for_function("() => { const c = document.querySelector('#outputs canvas.spectrogram');"
                           " return c && c.width > 1 && c.height > 1; }", timeout=20_000)
    _check_diagram_and_timings(page)
    page.wait_for_timeout(300)
    _shot(page, "desktop-tts")


def test_audio_graph_runs_on_an_uploaded_wav(page, graphs, tmp_path):
    asr = "asr" if "asr" in graphs else _first_with(graphs, "audio", "text")
    audio_graph = next((n for n in ("resynth", "vc") if n in graphs), None) or _first_with(graphs, "audio", "audio")
    name = asr or audio_graph
    if name is None:
        pytest.skip(f"no graph with an audio input among the served graphs: {sorted(graphs)}")
    wav = tmp_path / "speech.wav"
    spoken = _make_wav(wav)

    _choose(page, name)
    port = next(p for p, s in graphs[name]["inputs"].items() if s.get("kind") == "audio")
    page.set_input_files(f"#inputs [data-port='{port}'] input[type=file]", str(wav))
    # the input is previewed: an audio element and its spectrogram
    page.wait_for_function("() => { const c = document.querySelector('#inputs canvas.spectrogram');"
                           " return c && c.width > 1; }", timeout=20_000)
    _run_and_wait(page)

    if name == asr:
        text = page.inner_text("#outputs").lower()
        if spoken:
            words = set(re.findall(r"[a-z']+", text))
            content = {w for w in SENTENCE.split() if len(w) >= 4}     # not just "a", "is", "the"
            assert words & content, f"recognised text shares no word with {SENTENCE!r}: {text!r}"
    else:
        el = page.locator("audio.output-audio").first
        el.wait_for(timeout=10_000)
        assert el.get_attribute("src")
    _check_diagram_and_timings(page)
    page.wait_for_timeout(300)
    _shot(page, f"desktop-{name}")


def test_phone_width_has_no_horizontal_scroll(page, graphs):
    page.set_viewport_size({"width": 375, "height": 812})
    name = "tts" if "tts" in graphs else _first_with(graphs, "text", "audio")
    if name is not None:
        _choose(page, name)
        port = next(p for p, s in graphs[name]["inputs"].items() if s.get("kind") == "text")
        page.fill(f"#inputs [data-port='{port}'] textarea", "A short sentence on a small screen.")
        _run_and_wait(page)
    elif "arith" in graphs:
        _choose(page, "arith")
        page.fill("#in-a", "2")
        page.fill("#in-b", "3")
        _run_and_wait(page)
    page.wait_for_selector("#diagram svg", timeout=30_000)
    page.wait_for_timeout(500)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width} px wide at a 375 px viewport (horizontal scrolling)"
    _shot(page, "phone")


def test_errors_are_shown_not_swallowed(page, graphs, tmp_path):
    """A run with a required input left empty is stopped on the page; one with a file that is not a
    WAV answers 4xx; the page shows the message and the port."""
    _choose(page, "arith")
    page.click("#run-button")
    page.wait_for_selector("#error:not([hidden])", timeout=RUN_TIMEOUT_MS)
    text = page.inner_text("#error")
    assert "enter a number for 'a'" in text.lower() and "'b'" in text, text
    assert "Port" in text, text

    audio = _first_with(graphs, "audio", None)
    if audio is None:
        return
    bogus = tmp_path / "not-audio.wav"
    bogus.write_bytes(b"this is not a WAV file at all")
    _choose(page, audio)
    port = next(p for p, s in graphs[audio]["inputs"].items() if s.get("kind") == "audio")
    page.set_input_files(f"#inputs [data-port='{port}'] input[type=file]", str(bogus))
    page.click("#run-button")
    page.wait_for_selector("#error:not([hidden])", timeout=RUN_TIMEOUT_MS)
    text = page.inner_text("#error")
    assert "HTTP 4" in text and port in text, text
    _shot(page, "desktop-error")


def test_api_key_field_appears_on_401_and_is_used(browser, keyed_server):
    with _open_page(browser, keyed_server + "/") as pg:
        pg.wait_for_selector("#api-key-form:not([hidden])", timeout=30_000)
        assert "401" in pg.inner_text("#error")
        pg.fill("#api-key", API_KEY)
        pg.click("#api-key-form button[type=submit]")
        pg.wait_for_selector("#graph-select:not([disabled])", timeout=30_000)
        assert pg.is_hidden("#error")
        _choose(pg, "arith")
        pg.fill("#in-a", "2")
        pg.fill("#in-b", "3")
        _run_and_wait(pg)
        # (2 + 3) * 3 - 8 = 7 and (2 + 3) * 2 = 10
        out = pg.inner_text("#outputs")
        assert re.search(r"\b7(\.0+)?\b", out) and re.search(r"\b10(\.0+)?\b", out), out
        assert pg.evaluate("sessionStorage.getItem('modulespack.apiKey')") == API_KEY


def test_recording_from_a_fake_microphone_becomes_a_wav(pw, server, graphs):
    """Record (chromium's fake microphone: a beep), stop: the page encodes 16-bit PCM WAV itself,
    previews it, and the server accepts it for a run."""
    name = next((n for n in ("resynth", "vc", "asr") if n in graphs), None) or _first_with(graphs, "audio", None)
    if name is None:
        pytest.skip(f"no graph with an audio input among the served graphs: {sorted(graphs)}")
    port = next(p for p, s in graphs[name]["inputs"].items() if s.get("kind") == "audio")
    args = CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    # a browser of its own: the fake microphone needs launch flags
    b = pw.chromium.launch(executable_path=CHROMIUM, args=args, timeout=60_000)
    try:
        with _open_page(b, server + "/", permissions=("microphone",)) as pg:
            pg.wait_for_selector("#graph-select:not([disabled])", timeout=30_000)
            _choose(pg, name)
            button = pg.locator(f"#inputs [data-port='{port}'] button.record")
            if button.is_disabled():
                pytest.skip("recording is unavailable in this browser: " + (button.get_attribute("title") or ""))
            button.click()
            pg.wait_for_selector(f"#inputs [data-port='{port}'] button.record.recording", timeout=15_000)
            assert pg.is_disabled("#run-button"), "Run should wait until the recording stops"
            pg.wait_for_timeout(1500)
            button.click()
            pg.wait_for_function("() => { const c = document.querySelector('#inputs canvas.spectrogram');"
                                 " return c && c.width > 1; }", timeout=20_000)
            if pg.is_visible("#error"):
                pytest.fail("recording failed:\n" + pg.inner_text("#error"))
            wav = pg.evaluate("""async port => {
                const rec = window.modulespackDemo.state.audio[port];
                const buf = await rec.blob.arrayBuffer();
                const v = new DataView(buf);
                const tag = o => String.fromCharCode(...new Uint8Array(buf, o, 4));
                const w = window.modulespackDemo.parseWav(buf);
                return {riff: tag(0), wave: tag(8), format: v.getUint16(20, true), bits: v.getUint16(34, true),
                        sr: w.sr, n: w.samples.length, name: rec.name};
            }""", port)
            assert (wav["riff"], wav["wave"], wav["format"], wav["bits"]) == ("RIFF", "WAVE", 1, 16), wav
            assert wav["sr"] >= 8000 and wav["n"] > wav["sr"] * 0.5, wav
            _run_and_wait(pg)
            _shot(pg, "desktop-recording")
    finally:
        b.close()


def _requests_to(pg, fragment: str) -> list[str]:
    """The URLs of the requests `pg` sends whose URL contains `fragment` (a list that fills as they go)."""
    seen: list[str] = []
    pg.on("request", lambda r: seen.append(r.url) if fragment in r.url else None)
    return seen


def test_required_inputs_are_checked_before_sending(page, graphs):
    """Run with no WAV: the page says "upload a WAV for 'wav'" itself, never naming the hidden 'sr'."""
    if "asr" not in graphs:
        pytest.skip("no asr graph")
    runs = _requests_to(page, "/run")
    _choose(page, "asr")
    page.click("#run-button")
    page.wait_for_selector("#error:not([hidden])", timeout=10_000)
    text = page.inner_text("#error")
    assert "upload a wav for 'wav'" in text.lower(), text
    assert "sr" not in re.findall(r"'(\w+)'", text), text
    assert "HTTP" not in text and runs == [], (text, runs)
    assert page.locator("#inputs .field-audio.has-error").count() == 1
    _shot(page, "desktop-required-wav")


def test_an_example_fills_the_form_in_one_click_and_runs(page, graphs):
    if "asr" not in graphs or not graphs["asr"].get("examples"):
        pytest.skip("no asr graph with examples")
    _choose(page, "asr")
    buttons = page.locator("#examples button.example")
    assert buttons.count() == len(graphs["asr"]["examples"])
    first = graphs["asr"]["examples"][0]
    page.click(f"#examples button.example[data-example='{first['name']}']")
    # the recording arrives in the audio field: previewed with its spectrogram, Run enabled again
    page.wait_for_function("() => { const c = document.querySelector('#inputs canvas.spectrogram');"
                           " return c && c.width > 1; }", timeout=20_000)
    assert first["files"]["wav"]["name"] in page.inner_text("#inputs .audio-info")
    _run_and_wait(page)
    assert "hello" in page.inner_text("#outputs").lower()
    _check_diagram_and_timings(page)
    _shot(page, "desktop-example-asr")

    # a text example sets the values it names and puts the others back to their defaults
    _choose(page, "tts")
    page.fill("#in-voice", "awb")
    page.click("#examples button.example[data-example='weather (rms)']")
    assert page.input_value("#in-text") == "the weather is nice today." and page.input_value("#in-voice") == "rms"
    page.click("#examples button.example[data-example='hello']")
    assert page.input_value("#in-text") == "hello there, this is a test." and page.input_value("#in-voice") == "slt"
    _run_and_wait(page)
    page.locator("audio.output-audio").first.wait_for(timeout=10_000)


def test_a_failed_run_leaves_no_earlier_outputs_or_timings(page, graphs):
    if "tts" not in graphs:
        pytest.skip("no tts graph")
    _choose(page, "tts")
    page.fill("#in-text", "A first sentence that works.")
    _run_and_wait(page)
    _check_diagram_and_timings(page)
    page.fill("#in-voice", "no-such-voice")
    page.click("#run-button")
    page.wait_for_selector("#error:not([hidden])", timeout=RUN_TIMEOUT_MS)
    assert "HTTP" in page.inner_text("#error")
    assert page.locator("#outputs .output").count() == 0
    assert "failed" in page.inner_text("#outputs")
    assert page.inner_text("#run-summary") == ""
    assert page.locator("#timings tbody tr").count() == 0 and page.is_hidden("#timings")
    # the diagram is drawn again without the first run's timings
    page.wait_for_function("() => { const s = document.querySelector('#diagram svg');"
                           " return s && !/\\d\\s*ms/.test(s.textContent); }", timeout=30_000)
    _shot(page, "desktop-failed-run")


def test_a_big_diagram_keeps_readable_labels_and_scrolls(page, graphs):
    if "mp2_vc_chain" not in graphs:
        pytest.skip("no mp2_vc_chain graph")
    _choose(page, "mp2_vc_chain")
    page.wait_for_selector("#diagram svg", timeout=30_000)
    size = page.evaluate("""() => {
        const box = document.querySelector('#diagram'), svg = box.querySelector('svg');
        const native = parseFloat(svg.style.getPropertyValue('--native-w'));
        return {native: native, width: svg.getBoundingClientRect().width, box: box.clientWidth,
                scroll: box.scrollWidth};
    }""")
    assert size["native"] > 2 * size["box"], size               # a big one: it cannot fit
    assert size["width"] >= 0.7 * size["native"] - 1, size      # not shrunk below 70 %
    assert size["scroll"] > size["box"], size                    # it scrolls inside its box instead
    assert page.is_visible("#diagram-hint")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280    # the page itself does not
    _shot(page, "desktop-big-diagram")
    page.click("#diagram-fit")
    page.wait_for_function("() => { const b = document.querySelector('#diagram');"
                           " return b.scrollWidth <= b.clientWidth + 2; }", timeout=5_000)
    assert page.inner_text("#diagram-fit") == "Readable size"
    _shot(page, "desktop-big-diagram-fit")
