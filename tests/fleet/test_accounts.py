"""Accounts and the organization's rules, in the store, on SQLite and PostgreSQL, with an injected clock."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tests.fleet.clock import START

from vigil.fleet.accounts import (
    AccountsService,
    Conflict,
    DeepInspectionStatus,
    Ec2Status,
    InvalidValue,
    NoSuchAccount,
    NotAllowed,
    Relationship,
    ScanMode,
    custom_paths,
)
from vigil.fleet.organizations import OrganizationsService
from vigil.fleet.ports import AccountsDirectory
from vigil.server.keyfile import KeyFile, KeyFileError
from vigil.store import accounts as store
from vigil.store.engine import session_factory, transaction


@pytest.fixture
def sessions(store_engine):
    return session_factory(store_engine)


@pytest.fixture
def accounts(sessions, tmp_path, clock):
    return AccountsService(sessions, KeyFile.create(tmp_path / "secrets.key"), clock)


@pytest.fixture
def organizations(sessions, clock):
    return OrganizationsService(sessions, clock)


@pytest.fixture
def org(accounts, organizations):
    """The management account, a delegated administrator with two members, and an outsider."""
    management = accounts.create_account("management").account_id
    admin, a, b, outsider = (accounts.create_account(n).account_id for n in ("admin", "a", "b", "outsider"))
    organizations.enable_delegated_admin(management, admin)
    organizations.associate(admin, a)
    organizations.associate(admin, b)
    return {"management": management, "admin": admin, "a": a, "b": b, "outsider": outsider}


def test_a_new_account_has_a_12_digit_id_and_a_key_whose_secret_is_sealed_at_rest(accounts, sessions):
    made = accounts.create_account("web team")
    assert len(made.account_id) == 12 and made.account_id.isdigit()
    key = accounts.signing_key(made.access_key_id)
    assert key is not None and key.secret == made.secret_access_key and key.account_id == made.account_id
    with transaction(sessions) as session:
        sealed = session.scalars(select(store.AccessKeyRow.sealed_secret)).one()
    assert made.secret_access_key not in sealed


def test_a_sealed_secret_opens_only_with_its_own_key_file_and_its_own_access_key_id(tmp_path):
    box = KeyFile.create(tmp_path / "a.key")
    sealed = box.seal("s3cret", "VIGLKEY1")
    assert box.unseal(sealed, "VIGLKEY1") == "s3cret"
    with pytest.raises(KeyFileError):
        box.unseal(sealed, "VIGLKEY2")
    with pytest.raises(KeyFileError):
        KeyFile.create(tmp_path / "b.key").unseal(sealed, "VIGLKEY1")
    assert (tmp_path / "a.key").stat().st_mode & 0o777 == 0o600


def test_an_unknown_access_key_has_no_signing_key(accounts):
    accounts.create_account("x")
    assert accounts.signing_key("VIGLNOSUCHKEY0000000") is None


def test_the_first_account_manages_the_organization(accounts):
    first = accounts.create_account("first").account_id
    accounts.create_account("second")
    assert accounts.management_account_id() == first


def test_a_new_account_is_disabled_until_enabled_then_scans_in_hybrid_mode(accounts, clock):
    me = accounts.create_account("me").account_id
    assert accounts.statuses(me, []).accounts[0].ec2 is Ec2Status.DISABLED
    assert accounts.enabled_accounts() == []
    outcome = accounts.enable(me, [], ["EC2"])
    assert [(a.account_id, a.ec2) for a in outcome.accounts] == [(me, Ec2Status.ENABLED)]
    assert accounts.enabled_accounts() == [me]
    assert accounts.scan_mode(me) == "EC2_HYBRID"
    accounts.disable(me, [], [])
    assert accounts.enabled_accounts() == []


def test_resource_types_other_than_ec2_are_refused_and_nothing_changes(accounts):
    me = accounts.create_account("me").account_id
    with pytest.raises(InvalidValue) as excinfo:
        accounts.enable(me, [], ["EC2", "LAMBDA"])
    assert excinfo.value.field == "resourceTypes" and "LAMBDA" in excinfo.value.message
    assert accounts.enabled_accounts() == []


def test_enabling_an_account_one_does_not_administer_fails_for_that_account_only(accounts, org):
    outcome = accounts.enable(org["a"], [org["a"], org["b"]], ["EC2"])
    assert [a.account_id for a in outcome.accounts] == [org["a"]]
    assert [(f.account_id, f.error_code) for f in outcome.failed] == [(org["b"], "ACCESS_DENIED")]
    assert org["b"] not in accounts.enabled_accounts()


def test_the_administrator_enables_and_reads_its_members(accounts, org):
    outcome = accounts.enable(org["admin"], [org["a"], org["b"], org["outsider"]], ["EC2"])
    assert {a.account_id for a in outcome.accounts} == {org["a"], org["b"]}
    assert [f.account_id for f in outcome.failed] == [org["outsider"]]
    statuses = accounts.statuses(org["admin"], [org["a"], org["b"]])
    assert all(s.ec2 is Ec2Status.ENABLED for s in statuses.accounts)


def test_the_administrator_cannot_disable_itself_while_it_has_members(accounts, org):
    outcome = accounts.disable(org["admin"], [], [])
    assert [f.error_code for f in outcome.failed] == ["DISASSOCIATE_ALL_MEMBERS"]
    assert org["admin"] in accounts.enabled_accounts()


def test_members_follow_their_administrators_scan_mode_until_given_their_own(accounts, org):
    accounts.update_configuration(org["admin"], scan_mode=ScanMode.AGENT_BASED)
    assert accounts.scan_mode(org["a"]) == "EC2_SSM_AGENT_BASED"
    assert accounts.configuration(org["admin"], org["a"]).scan_mode is ScanMode.AGENT_BASED
    accounts.update_configuration(org["admin"], org["b"], scan_mode=ScanMode.HYBRID)
    assert accounts.scan_mode(org["b"]) == "EC2_HYBRID"
    accounts.update_configuration(org["admin"], org["b"], inherit=True)
    assert accounts.scan_mode(org["b"]) == "EC2_SSM_AGENT_BASED"
    assert accounts.scan_mode(org["outsider"]) == "EC2_HYBRID"


def test_a_member_cannot_set_its_own_scan_mode_nor_read_anothers(accounts, org):
    with pytest.raises(NotAllowed, match=org["admin"]):
        accounts.update_configuration(org["a"], scan_mode=ScanMode.AGENT_BASED)
    with pytest.raises(NotAllowed):
        accounts.configuration(org["a"], org["b"])
    with pytest.raises(NotAllowed):
        accounts.update_configuration(org["outsider"], org["a"], scan_mode=ScanMode.AGENT_BASED)


def test_a_disassociated_member_keeps_the_mode_it_had_and_sets_its_own_again(accounts, organizations, org):
    accounts.update_configuration(org["admin"], scan_mode=ScanMode.AGENT_BASED)
    organizations.disassociate(org["admin"], org["a"])
    assert accounts.scan_mode(org["a"]) == "EC2_HYBRID"  # its own: it never set another
    accounts.update_configuration(org["a"], scan_mode=ScanMode.AGENT_BASED)
    assert accounts.scan_mode(org["a"]) == "EC2_SSM_AGENT_BASED"


@pytest.mark.parametrize(
    ("paths", "problem"),
    [
        (["/opt/a", "/opt/b", "/opt/c", "/opt/d", "/opt/e", "/opt/f"], "at most 5"),
        (["opt/app"], "not an absolute path"),
        (["//fileserver/share"], "network path"),
        (["/opt/" + "x" * 252], "longer than 256"),
        (["/opt/../etc"], ". or .."),
        (["/opt/a\nb"], "control characters"),
        (["/"], "the root"),
    ],
)
def test_custom_paths_are_absolute_local_and_short(paths, problem):
    with pytest.raises(InvalidValue, match=problem):
        custom_paths("packagePaths", paths)


def test_a_256_character_path_is_accepted_and_duplicates_count_once():
    longest = "/opt/" + "x" * 251
    assert custom_paths("packagePaths", [longest, "/srv/app/", "/srv/app"]) == (longest, "/srv/app")


def test_deep_inspection_paths_are_the_accounts_and_its_organizations(accounts, organizations, org):
    organizations.update_org_package_paths(org["admin"], ["/srv/shared"])
    accounts.update_deep_inspection(org["a"], package_paths=["/opt/a"])
    accounts.update_deep_inspection(org["outsider"], package_paths=["/opt/outsider"])
    assert accounts.deep_inspection_paths(org["a"]) == ("/opt/a", "/srv/shared")
    assert accounts.deep_inspection_paths(org["admin"]) == ("/srv/shared",)
    assert accounts.deep_inspection_paths(org["outsider"]) == ("/opt/outsider",)
    config = accounts.deep_inspection(org["a"])
    assert config.package_paths == ("/opt/a",) and config.org_package_paths == ("/srv/shared",)


def test_only_the_administrator_sets_organization_paths_and_activates_deep_inspection(
    accounts, organizations, org
):
    with pytest.raises(NotAllowed):
        organizations.update_org_package_paths(org["a"], ["/srv/x"])
    with pytest.raises(NotAllowed):
        accounts.update_deep_inspection(org["a"], activate=False)
    done = accounts.update_deep_inspection(org["outsider"], activate=False)
    assert done.status is DeepInspectionStatus.DEACTIVATED


def test_one_delegated_administrator_at_a_time_named_by_the_management_account(accounts, organizations, org):
    with pytest.raises(NotAllowed):
        organizations.enable_delegated_admin(org["admin"], org["a"])
    with pytest.raises(Conflict) as excinfo:
        organizations.enable_delegated_admin(org["management"], org["outsider"])
    assert excinfo.value.resource_id == org["admin"]
    assert organizations.enable_delegated_admin(org["management"], org["admin"]) == org["admin"]
    with pytest.raises(NoSuchAccount):
        organizations.enable_delegated_admin(org["management"], "999999999999")


def test_the_delegated_administrator_is_enabled_with_its_naming(accounts, organizations):
    management = accounts.create_account("m").account_id
    admin = accounts.create_account("admin").account_id
    organizations.enable_delegated_admin(management, admin)
    assert accounts.enabled_accounts() == [admin]


def test_members_carry_their_relationship_and_when_it_changed(organizations, org, clock):
    first = organizations.member(org["admin"], org["a"])
    assert (first.relationship, first.delegated_admin_account_id, first.updated_at) == (
        Relationship.ENABLED,
        org["admin"],
        START,
    )
    clock.now = START + dt.timedelta(hours=2)
    organizations.disassociate(org["admin"], org["a"])
    removed = organizations.member(org["admin"], org["a"])
    assert removed.relationship is Relationship.REMOVED and removed.updated_at == clock.now
    never = organizations.member(org["admin"], org["outsider"])
    assert never.relationship is Relationship.CREATED and never.delegated_admin_account_id is None


def test_listing_members_the_administrators_view_and_a_members_own(organizations, org):
    assert [m.account_id for m in organizations.members(org["admin"])] == sorted([org["a"], org["b"]])
    everyone = {m.account_id for m in organizations.members(org["admin"], only_associated=False)}
    assert everyone == {org["management"], org["a"], org["b"], org["outsider"]}
    assert [m.account_id for m in organizations.members(org["a"])] == [org["a"]]
    assert organizations.members(org["outsider"]) == []


def test_a_member_sees_only_itself(organizations, org):
    assert organizations.member(org["a"], org["a"]).relationship is Relationship.ENABLED
    with pytest.raises(NotAllowed):
        organizations.member(org["a"], org["b"])
    with pytest.raises(NotAllowed):
        organizations.associate(org["a"], org["outsider"])
    with pytest.raises(NotAllowed):
        organizations.delegated_admin(org["a"])


def test_associating_checks_the_account_and_is_idempotent(organizations, org):
    with pytest.raises(InvalidValue, match="its own member"):
        organizations.associate(org["admin"], org["admin"])
    with pytest.raises(InvalidValue, match="no account"):
        organizations.associate(org["admin"], "999999999999")
    assert organizations.associate(org["admin"], org["a"]) == org["a"]
    with pytest.raises(InvalidValue, match="not a member"):
        organizations.disassociate(org["admin"], org["outsider"])


def _access_key(sessions, account_id):
    with transaction(sessions) as session:
        query = select(store.AccessKeyRow.access_key_id).where(store.AccessKeyRow.account_id == account_id)
        return session.scalars(query).one()


def test_removing_the_delegated_administrator_disassociates_its_members(
    accounts, organizations, sessions, org
):
    organizations.update_org_package_paths(org["admin"], ["/srv/shared"])
    with pytest.raises(NoSuchAccount):
        organizations.disable_delegated_admin(org["management"], org["a"])
    organizations.disable_delegated_admin(org["management"], org["admin"])
    assert organizations.delegated_admin(org["management"]) is None
    assert accounts.signing_key(_access_key(sessions, org["admin"])).administered == frozenset()
    assert organizations.members(org["a"]) == []
    assert accounts.deep_inspection_paths(org["a"]) == ()


def test_a_signing_key_says_which_members_its_account_administers(accounts, sessions, org):
    assert accounts.signing_key(_access_key(sessions, org["admin"])).administered == {org["a"], org["b"]}
    assert accounts.signing_key(_access_key(sessions, org["a"])).administered == frozenset()


def test_the_accounts_service_is_the_directory_the_scanning_side_reads(accounts):
    directory: AccountsDirectory = accounts
    me = accounts.create_account("me").account_id
    accounts.enable(me, [], ["EC2"])
    assert directory.enabled_accounts() == [me]
    assert directory.scan_mode(me) == "EC2_HYBRID"
    assert directory.deep_inspection_paths(me) == ()
