"""Sessions and sign-in failures on the server: the store alone, on a clock the test moves."""

from pathlib import Path

import pytest

from dashboards.access import ADDRESS_LIMIT, USER_LIMIT, WINDOW_S, AccessStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> AccessStore:
    return AccessStore(tmp_path / "access.sqlite3", session_s=3600.0, clock=clock)


def test_a_session_lives_until_it_is_closed_or_expires(store: AccessStore, clock: Clock) -> None:
    first, second = store.open("ana"), store.open("ana")
    assert first != second
    assert store.user_of(first) == store.user_of(second) == "ana"
    store.close(first)
    assert store.user_of(first) is None
    assert store.user_of(second) == "ana"
    clock.now += 3600.0
    assert store.user_of(second) is None
    assert store.user_of("made-up") is None


def test_closing_all_of_a_user_s_sessions_leaves_the_others(store: AccessStore) -> None:
    ana, bo = store.open("ana"), store.open("bo")
    store.close_all("ana")
    assert (store.user_of(ana), store.user_of(bo)) == (None, "bo")


def test_a_second_process_sees_the_same_sessions(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "access.sqlite3"
    session = AccessStore(path, session_s=60.0, clock=clock).open("ana")
    other = AccessStore(path, session_s=60.0, clock=clock)
    assert other.user_of(session) == "ana"
    other.close(session)
    assert AccessStore(path, session_s=60.0, clock=clock).user_of(session) is None


def test_a_user_is_throttled_after_their_failures_until_the_oldest_leaves_the_window(
    store: AccessStore, clock: Clock
) -> None:
    for _ in range(USER_LIMIT - 1):
        store.failed("ana", "10.0.0.1")
        clock.now += 10.0
    assert store.wait_s("ana", "10.0.0.2") == 0.0
    store.failed("ana", "10.0.0.2")  # another address: the user's count goes on
    wait = store.wait_s("ana", "10.0.0.3")
    assert wait == pytest.approx(WINDOW_S - 10.0 * (USER_LIMIT - 1))
    assert store.wait_s("bo", "10.0.0.3") == 0.0
    clock.now += wait
    assert store.wait_s("ana", "10.0.0.3") == 0.0


def test_an_address_is_throttled_across_users(store: AccessStore, clock: Clock) -> None:
    for n in range(ADDRESS_LIMIT):
        store.failed(f"user{n}", "10.0.0.9")
    assert store.wait_s("someone-new", "10.0.0.9") == pytest.approx(WINDOW_S)
    assert store.wait_s("someone-new", "10.0.0.8") == 0.0


def test_a_good_password_clears_the_user_s_failures(store: AccessStore) -> None:
    for _ in range(USER_LIMIT - 1):
        store.failed("ana", "10.0.0.1")
    store.succeeded("ana")
    store.failed("ana", "10.0.0.1")
    assert store.wait_s("ana", "10.0.0.1") == 0.0
