"""``qmml serve``: the help that teaches, user errors in one line, and a real server process
that answers and then stops cleanly on SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from qmml.experiments.cli import build_parser, main


def test_help_shows_examples_and_the_openai_snippet():
    sp = build_parser()._subparsers._group_actions[0].choices["serve"]
    text = sp.format_help()
    for needle in ("qmml serve smollm2", "qmml serve tiny --port 0", "from openai import OpenAI"):
        assert needle in text
    assert 'base_url="http://127.0.0.1:8000/v1"' in text and "max_retries=2" in text
    args = build_parser().parse_args(["serve", "tiny"])
    assert (args.host, args.port, args.device, args.max_queue) == ("127.0.0.1", 8000, "cpu", 16)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "gpt-9"], "unknown model 'gpt-9'"),
        (["serve", "tiny", "--max-queue", "-1"], "--max-queue -1"),
        (["serve", "tiny", "--threads", "0"], "--threads 0"),
    ],
)
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_empty_run_folder_and_busy_port(tmp_path, capsys):
    assert main(["serve", str(tmp_path)]) == 2
    assert "found 0" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "tiny", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_tiny_answers_then_stops_on_sigterm():
    import openai

    env = os.environ | {"QMML_API_KEY": "k", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qmml.experiments.cli", "serve", "tiny", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()  # printed once the socket listens
        match = re.search(r"at (http://127\.0\.0\.1:\d+/v1) \(api key: required", line)
        assert match, line
        client = openai.OpenAI(base_url=match[1], api_key="k", timeout=30, max_retries=0)
        reply = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
        assert reply.usage.prompt_tokens > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read()
        assert "qmml serve: stopped" in err and "Traceback" not in err
        assert "POST /v1/chat/completions 200" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(ProcessLookupError):  # gone, nothing left behind
        os.kill(proc.pid, 0)
