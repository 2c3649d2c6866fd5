"""The API key: another address than this machine's is refused at start without one; with one, every API route
answers 401 without it, and accepts it as a bearer token or as the basic-authentication password (webuiapi)."""

import pytest
import requests
import webuiapi
from sgm_gradio.api.auth import API_KEY_ENV
from sgm_gradio.main import parse_args

KEY = "s3cret-key-for-tests"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_another_address_without_a_key_is_refused_at_start(host, capsys, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(SystemExit):
        parse_args(["--host", host])
    assert f"--host {host} lets other machines in: give an API key with --api-key" in capsys.readouterr().err
    assert parse_args(["--host", host, "--api-key", KEY]).api_key == KEY
    monkeypatch.setenv(API_KEY_ENV, KEY)
    assert parse_args(["--host", host]).api_key == KEY


def test_a_short_key_is_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--api-key", "short"])
    assert "at least 8 characters" in capsys.readouterr().err


@pytest.fixture(scope="module")
def served(tiny_models, serve, tmp_path_factory):
    served = serve(["--output", str(tmp_path_factory.mktemp("key-outputs")), "--device", "cpu", "--api-key", KEY])
    yield served
    served.stop()


ROUTES = [("get", "/sdapi/v1/samplers"), ("get", "/sdapi/v1/sd-models"), ("get", "/sdapi/v1/options"),
          ("post", "/sdapi/v1/options"), ("get", "/sdapi/v1/progress"), ("post", "/sdapi/v1/interrupt"),
          ("post", "/sdapi/v1/txt2img"), ("post", "/sdapi/v1/img2img"), ("get", "/v1/models"), ("post", "/v1/jobs"),
          ("get", "/v1/jobs/x"), ("delete", "/v1/jobs/x"), ("get", "/v1/jobs/x/files/y.png")]  # fmt: skip


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_every_api_route_needs_the_key(served, method, route):
    for headers in ({}, {"Authorization": "Bearer wrong-key-xyz"}, {"Authorization": "Basic !!"}):
        answer = requests.request(method, served.url + route, json={}, headers=headers, timeout=30)
        assert answer.status_code == 401, (route, headers)
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_the_key_as_bearer_token_or_basic_password(served):
    answer = requests.get(served.url + "/sdapi/v1/samplers", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert answer.status_code == 200
    client = webuiapi.WebUIApi(host="127.0.0.1", port=served.port, username="anyone", password=KEY)
    assert "Euler a" in client.util_get_sampler_names()
    client.util_set_model("sd-2.1", find_closest=False)
    result = client.txt2img(prompt="a fox", seed=2, steps=2, width=64, height=64, cfg_scale=5)
    assert len(result.images) == 1


def test_the_page_asks_for_the_key_and_says_the_api_needs_it(served):
    assert "needs the server's key" not in requests.get(served.url + "/", timeout=30).text  # a login form first
    session = requests.Session()
    assert session.post(served.url + "/login", data={"username": "me", "password": "wrong-key-xyz"}).status_code == 400
    assert session.post(served.url + "/login", data={"username": "me", "password": KEY}).status_code == 200
    assert "Every API call needs the server's key" in session.get(served.url + "/config", timeout=30).text
