"""OpenAI-compatible presets and the embedded default's environment
providers: `type: together` (or groq, mistral, ...) is the openai adapter
with that service's base URL; "PROVIDER/model" reaches a provider's model
directly; OPENAI_API_KEY (+ OPENAI_BASE_URL) switches OpenAI's models on in
the embedded default, with the default timeouts."""

import os
import socket
import subprocess
import time

import pytest

from conftest import GATEWAYD, GWCTL, SANITIZED, SAN_ENV, http_request, san_report


def test_preset_type_with_base_url(make_gateway, mock):
    extra_models = "  - { name: via-preset, deployments: [ { provider: tg, model: tg-model } ] }\n"
    g = make_gateway(start=False, extra_models=extra_models)
    text = g.config_text(extra_models=extra_models).replace(
        "providers:\n",
        'providers:\n  - { name: tg, type: together, base_url: "http://127.0.0.1:%d/v1", '
        'api_key: "env:MOCK_PROVIDER_KEY" }\n' % g.mock_port, 1)
    g.write_config(text=text)
    g.start()
    key = g.create_key("preset")["key"]
    mock.clear()
    r = g.chat(key, "preset hello", model="via-preset")
    assert r.status == 200 and r.headers["x-gw-provider"] == "tg", r
    r = g.chat(key, "direct hello", model="tg/some-upstream-model")
    assert r.status == 200, r
    sent = [q for q in mock.requests() if "direct hello" in q["body"]]
    assert len(sent) == 1 and '"model":"some-upstream-model"' in sent[0]["body"].replace(" ", "")


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_embedded_default_with_openai_env(tmp_path, mock):
    if not port_free(8080):
        pytest.fail("port 8080 is taken: the embedded default listens there")
    env = dict(os.environ, OPENAI_API_KEY="sk-env-test",
               OPENAI_BASE_URL="http://127.0.0.1:%d/v1" % mock.port)
    if SANITIZED:
        env.update(SAN_ENV)
    err = open(tmp_path / "stderr", "w")
    p = subprocess.Popen([str(GATEWAYD)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                         stderr=err)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if http_request(8080, "GET", "/health").status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        out = subprocess.run([str(GWCTL), "--json", "key", "create", "--name", "env"], cwd=tmp_path,
                             capture_output=True, text=True, check=True)
        key = __import__("json").loads(out.stdout)["key"]
        mock.clear()
        r = http_request(8080, "POST", "/v1/chat/completions",
                         {"model": "gpt-4o-mini",
                          "messages": [{"role": "user",
                                        "content": "from the env default [[mock:delay_ms=300]]"}]},
                         headers={"Authorization": "Bearer " + key})
        assert r.status == 200, r  # a slow answer is within the default timeouts
        sent = [q for q in mock.requests() if "from the env default" in q["body"]]
        assert sent and sent[0]["headers"]["authorization"] == "Bearer sk-env-test"
    finally:
        p.terminate()
        assert p.wait(timeout=20) == 0
        err.close()
    found = san_report((tmp_path / "stderr").read_text())
    assert not found, found
