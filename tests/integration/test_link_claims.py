"""The link table's conditional writes on moto, as two containers meet them: one claim on a
new name wins; the loser sees the winner's claim and cannot release, settle or take it; only
the winner's link ends it."""

from __future__ import annotations

from skipcall_bridge.aws.links import DynamoDbLinks
from skipcall_bridge_dev.moto_stack import LINKS_TABLE

from .conftest import Receiver

NOW = 1_800_000_000.0


def test_two_containers_claim_one_name_and_only_the_winner_settles_it(receiver: Receiver) -> None:
    first, second = DynamoDbLinks(LINKS_TABLE), DynamoDbLinks(LINKS_TABLE)
    assert first.claim("Inbound leads", "token-first", NOW)
    assert not second.claim("Inbound leads", "token-second", NOW + 0.01)  # lost the race
    seen = second.lookup("Inbound leads")
    assert seen is not None
    assert (seen.state, seen.claimed_by, seen.sequence_id) == ("creating", "token-first", None)

    # The loser's attempts to end a claim that is not its own change nothing.
    second.release("Inbound leads", "token-second")
    second.mark_unknown("Inbound leads", "token-second")
    after = first.lookup("Inbound leads")
    assert after is not None
    assert (after.state, after.claimed_by) == ("creating", "token-first")

    first.link("Inbound leads", "seq-1")
    linked = second.lookup("Inbound leads")
    assert linked is not None
    assert (linked.state, linked.sequence_id) == ("linked", "seq-1")
    assert not second.claim("Inbound leads", "token-second", NOW + 1)  # linked: nothing to take


def test_a_released_claim_can_be_taken_by_the_next_container(receiver: Receiver) -> None:
    first, second = DynamoDbLinks(LINKS_TABLE), DynamoDbLinks(LINKS_TABLE)
    assert first.claim("Renewals", "token-first", NOW)
    first.release("Renewals", "token-first")  # its create provably did nothing
    assert second.lookup("Renewals") is None
    assert second.claim("Renewals", "token-second", NOW + 1)


def test_an_adoption_is_conditional_and_only_an_unmarked_shared_link_is_adoptable(
    receiver: Receiver,
) -> None:
    """Security review #28, findings 4 and 12, on DynamoDB: a shared name written now carries
    its mark (a link from before names were scoped has none), and a scoped name is adopted only
    while nothing is written under it."""
    links = DynamoDbLinks(LINKS_TABLE)
    links.link("VIP", "seq-shared")
    shared = links.lookup("VIP")
    assert shared is not None
    assert shared.shared
    links.link("crm::VIP", "seq-private")
    private = links.lookup("crm::VIP")
    assert private is not None
    assert not private.shared
    assert not links.adopt("crm::VIP", "seq-shared")  # written already: left as it is
    assert links.lookup("crm::VIP") == private
    assert not links.settle("crm::VIP", "seq-forged")  # linked: a letter cannot re-point it
    assert links.lookup("crm::VIP") == private
    assert links.claim("crm::New", "token", NOW)
    assert links.settle("crm::New", "seq-new")  # over a claim: linked
    assert links.adopt("crm::Inbound", "seq-legacy")
    adopted = links.lookup("crm::Inbound")
    assert adopted is not None
    assert (adopted.state, adopted.sequence_id) == ("linked", "seq-legacy")
