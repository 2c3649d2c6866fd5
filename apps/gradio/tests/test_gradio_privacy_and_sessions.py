"""What the web app sends and shows, and what it keeps: no usage analytics unless asked, no server paths or tool
banners in messages, uploads purged after an hour, and a run that stops when its browser tab closes."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from sgm.core.errors import SgmError
from sgm_gradio.app import UPLOAD_LIFETIME_S, build_app
from sgm_gradio.jobs import StopFlags, user_message
from sgm_gradio.runners import checkpoint_status

TABS = ("digits", "txt2img", "img2img", "img2vid", "orbit", "vid2_4d")


def _app():
    runners = {key: lambda model, settings, hooks: None for key in TABS}
    return build_app(runners, checkpoint_status=lambda model: None, model_defaults=lambda model: {})


@pytest.mark.parametrize(("env", "enabled"), [(None, "False"), ("True", "True")])
def test_analytics_only_when_the_user_asks(env, enabled):
    script = ("import sgm_gradio, gradio.analytics as a\nfrom sgm_gradio.app import build_app\n"
              "app = build_app({k: print for k in %r}, checkpoint_status=lambda m: None, model_defaults=lambda m: {})\n"
              "print(a.analytics_enabled(), app.analytics_enabled)" % (TABS,))  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED"}
    if env is not None:
        environment["GRADIO_ANALYTICS_ENABLED"] = env
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            timeout=300, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == [enabled, enabled]


def test_uploads_are_purged_on_a_schedule():
    assert _app().delete_cache == (UPLOAD_LIFETIME_S, UPLOAD_LIFETIME_S)


def test_closing_the_tab_stops_its_run(monkeypatch):
    stopped = []
    monkeypatch.setattr(StopFlags, "stop", lambda self, session: stopped.append(session) or True)
    app = _app()
    (unload,) = [dep for dep in app.fns.values() if any(target[1] == "unload" for target in dep.targets)]
    unload.fn(SimpleNamespace(session_hash="tab-1"))
    # a server an earlier test started may close its own tabs meanwhile: only this tab's stop is this test's
    assert [session for session in stopped if session == "tab-1"] == ["tab-1"]


@pytest.mark.parametrize(
    "error",
    [
        SgmError("cannot read the video /tmp/gradio/5f0c/clip.mp4 (moov atom not found)\nffmpeg version 7 built with"),
        ValueError("/srv/sgm/outputs/gradio/x.png is not a readable image"),
        RuntimeError("file /home/op/.cache/weights/model.bin failed\n  File \"/usr/lib/x.py\", line 3"),
    ],
)
def test_messages_show_no_server_paths_and_no_banner(error):
    message = user_message(error)
    assert "\n" not in message and "/tmp" not in message and "/srv" not in message and "/home" not in message
    assert any(name in message for name in ("clip.mp4", "x.png", "model.bin"))
    assert "ffmpeg version" not in message and "File" not in message


def test_the_missing_checkpoint_message_fits_the_web_app(tmp_path, monkeypatch):
    monkeypatch.setenv("SGM_CHECKPOINT_DIR", str(tmp_path))
    message = checkpoint_status("sdxl-base")
    assert "sd_xl_base_1.0.safetensors" in message and "--ckpt" not in message
