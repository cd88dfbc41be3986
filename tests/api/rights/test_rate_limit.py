"""Rate limits per person on the subject routes, over real HTTP through the ASGI app: rights
requests (export, erasure ...) are limited per person -- whichever of their tokens they use --
and another person is not affected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.core.settings import Settings
from tests.api.conftest import Service, assert_problem, serve
from tests.api.rights.support import CONFIRM, me, person_with_everything
from tests.conftest import TrainedModels


@pytest.fixture
def limited(service_settings: Settings) -> Iterator[Service]:
    """Two rights requests per person, then one a minute; six requests in all, then one a minute."""
    settings = service_settings.model_copy(
        update={
            "subject_rights_rate_per_minute": 1.0,
            "subject_rights_rate_burst": 2,
            "subject_rate_per_minute": 1.0,
            "subject_rate_burst": 6,
        }
    )
    with serve(settings) as running:
        yield running


def test_export_and_erasure_are_limited_per_person(
    limited: Service, trained: TrainedModels
) -> None:
    alice = person_with_everything(limited, trained, "limit-alice")
    bob = person_with_everything(limited, trained, "limit-bob", amount=482.75)

    assert me(limited, "GET", "/export", alice.token).status_code == 200
    assert me(limited, "GET", "/export.csv", alice.token).status_code == 200
    refused = me(limited, "POST", "/erasure", alice.token, json=CONFIRM)
    body = assert_problem(refused, 429, "too-many-requests")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "rights requests" in body["detail"] and "limit-alice" not in refused.text
    # Another of her notices carries another token: the limit is hers, not the token's.
    other_token = alice.decisions["fraud"]["notice"]["subject_token"]
    assert other_token != alice.token
    assert_problem(me(limited, "GET", "/export", other_token), 429, "too-many-requests")
    # Nothing was erased; reading is limited separately and still allowed.
    listed = me(limited, "GET", "/decisions", alice.token)
    assert listed.status_code == 200 and len(listed.json()) == 3

    erased = me(limited, "POST", "/erasure", bob.token, json=CONFIRM)
    assert erased.status_code == 201, erased.text


def test_every_subject_route_is_limited_per_person(
    limited: Service, trained: TrainedModels
) -> None:
    carol = person_with_everything(limited, trained, "limit-carol")
    dave = person_with_everything(limited, trained, "limit-dave", amount=482.75)
    decision_id = carol.decisions["fraud"]["id"]
    for path in ("/decisions", f"/decisions/{decision_id}", "/cases") * 2:
        assert me(limited, "GET", path, carol.token).status_code == 200
    assert_problem(me(limited, "GET", "/cases", carol.token), 429, "too-many-requests")
    assert me(limited, "GET", "/cases", dave.token).status_code == 200
