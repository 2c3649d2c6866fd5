"""`uv run apps/gradio` options: defaults, and bad values refused with one line."""

import pytest
from sgm_gradio.main import parse_args


def test_defaults_listen_on_localhost_with_one_gpu_job():
    args = parse_args([])
    assert (args.host, args.port, args.concurrency) == ("127.0.0.1", 7860, 1)


@pytest.mark.parametrize(
    ("argv", "message"), [(["--port", "0"], "--port must be"), (["--concurrency", "0"], "at least 1")]
)
def test_bad_values_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err
