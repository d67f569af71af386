from regledger.ledger.health import Health


def test_an_error_makes_the_instance_not_ready_until_cleared() -> None:
    h = Health()
    assert h.ready and h.conditions() == []
    assert h.report("calendar", "warning", "2027 not loaded")
    assert h.ready  # a warning alone keeps it ready
    assert h.report("integrity", "error", "tile 0/1 index 5")
    assert not h.report("integrity", "error", "tile 0/1 index 5")  # same condition: not new
    assert not h.ready
    assert [c.component for c in h.conditions()] == ["integrity", "calendar"]  # errors first
    assert h.clear("integrity") and not h.clear("integrity")
    assert h.ready
