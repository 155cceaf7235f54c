from __future__ import annotations

import itertools
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galfriday.errors import ConfigError
from galfriday.kraken.auth import (
    KeyState,
    NonceGenerator,
    decode_secret,
    load_key_state,
    save_key_state,
    sign,
)


def test_official_kraken_signing_vector() -> None:
    secret = decode_secret(
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    )
    postdata = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    assert sign("/0/private/AddOrder", 1616492376594, postdata, secret) == (
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    )


def test_sdk_golden_vector_with_bytes_body() -> None:
    secret = decode_secret("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
    body = b"nonce=1700000000000000000"
    assert sign("/0/private/Balance", "1700000000000000000", body, secret) == (
        "6i7+cpXVLDDnDOekgsRcgFQhkYFyPDSSxhSVA8OrA6vjziXcy2K1DP3n7f9B/Kgni71WjBSQusZKxduRsdF20Q=="
    )


def test_bad_secret_is_a_config_error_that_does_not_echo_it() -> None:
    with pytest.raises(ConfigError) as info:
        decode_secret("not*base64!!")
    assert "not*base64" not in str(info.value)


def test_nonce_follows_the_clock_in_microseconds() -> None:
    nonces = NonceGenerator()
    assert nonces.next(1_700_000_000_123_456_789) == 1_700_000_000_123_456


@given(st.lists(st.integers(0, 2**62), min_size=1, max_size=50))
def test_nonce_strictly_increases_whatever_the_clock_does(clock: list[int]) -> None:
    nonces = NonceGenerator()
    issued = [nonces.next(now) for now in clock]
    assert all(a < b for a, b in itertools.pairwise(issued))


def test_nonce_stays_increasing_across_a_restart_with_a_clock_gone_back(tmp_path: Path) -> None:
    path = tmp_path / "nonce"
    first = NonceGenerator(load_key_state(path).nonce)
    used = first.next(2_000_000_000_000_000_000)
    save_key_state(path, KeyState(first.last, 3.5))
    state = load_key_state(path)
    assert state == KeyState(used, 3.5)
    restarted = NonceGenerator(state.nonce)
    assert restarted.next(1_000_000_000_000_000_000) > used
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_nonce_file_from_before_the_counter_was_kept_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "nonce"
    path.write_text("1700000000000000")
    assert load_key_state(path) == KeyState(1_700_000_000_000_000, 0.0)


@pytest.mark.parametrize("text", ["garbage", "", "12 x", "12 nan", "12 inf", "12 -1", "1 2 3"])
def test_corrupt_nonce_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "nonce"
    path.write_text(text)
    with pytest.raises(ConfigError, match="nonce file"):
        load_key_state(path)


SAVER = """
import sys
from pathlib import Path
from galfriday.kraken.auth import KeyState, save_key_state
path = Path(sys.argv[1])
for nonce in range(300):
    save_key_state(path, KeyState(nonce, 1.0))
"""


@pytest.mark.slow
def test_two_processes_saving_the_same_key_state_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "g.db.nonce"
    savers = [
        subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [saver.communicate(timeout=60)[1] for saver in savers]
    assert [saver.returncode for saver in savers] == [0, 0], errors
    assert load_key_state(path) == KeyState(299, 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.db.nonce"]  # no temporary left


def test_threads_saving_the_same_key_state_never_collide(tmp_path: Path) -> None:
    path = tmp_path / "nonce"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: save_key_state(path, KeyState(n, 0.0)), range(400)))
    assert load_key_state(path).nonce in range(400)
    assert [p.name for p in tmp_path.iterdir()] == ["nonce"]


def test_the_temporary_file_is_named_for_this_process_and_this_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed: list[str] = []
    replace = os.replace

    def recording(src: Path, dst: Path) -> None:
        renamed.append(Path(src).name)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    for nonce in (1, 2):
        save_key_state(tmp_path / "nonce", KeyState(nonce, 0.0))
    first, second = renamed
    assert first != second
    assert all(name.startswith(f"nonce.{os.getpid()}.") for name in renamed)


def test_a_failed_save_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        save_key_state(tmp_path / "nonce", KeyState(1, 0.0))
    assert list(tmp_path.iterdir()) == []
