"""How long trainings take under the realistic profile: seed 001 says "20–30 minutes or more"."""

from __future__ import annotations

from test_training_support import Api

from mockserver.core.ids import Ids
from mockserver.core.profiles import plan_for


def test_realistic_fast_trainings_take_20_to_30_minutes():
    for seed in range(300):
        ids = Ids(seed)
        plan = plan_for("realistic", "training", ids)
        assert 20 * 60 <= plan.pending + plan.running <= 30 * 60, (seed, plan)
        hq = plan_for("realistic", "training_hq", ids)
        assert hq.pending + hq.running >= 30 * 60, (seed, hq)  # "or more": high quality takes longer


def test_a_realistic_training_over_the_api(mockserver):
    """Still processing after 20 minutes less a second on the fake's clock, succeeded 30 minutes in."""
    mockserver.clock.freeze()
    api = Api(mockserver.http)
    model = api.create_model("Slow")
    assert api.upload(model["id"]).status_code == 201
    started = api.call("POST", f"/models/{model['id']}/trainings", json={}, headers={"x-mock-profile": "realistic"})
    assert started.status_code == 202, started.text
    training_id = started.json()["trainingId"]
    mockserver.clock.advance(20 * 60 - 1)
    assert api.training(model["id"], training_id).json()["status"] == "processing"
    mockserver.clock.advance(10 * 60 + 1)
    assert api.training(model["id"], training_id).json()["status"] == "succeeded"
