//! Adapter behaviour on moto beyond the shared contract: races, raw items, the stream
//! image, STS and the customer's organization.

mod support;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use migration::error::StoreError;
use migration::ports::{CustomerAccess, ListQuery, MigrationStore};
use migration::record::{Actor, ChangeBuilder, HistoryEvent, created_event};
use migration::rules::CustomerOrganization;
use migration::{MigrationId, OrgId, Status};
use migration_aws::{AwsCustomerAccess, AwsPorts, status_changed_from_stream_image};
use migration_sim::contract::{sample_record, t0};
use support::*;

/// DynamoDB serializes conditional writes per item; threaded `moto_server` does not.
const SERIAL_HINT: &str =
    "the race tests need an emulator that serializes transactions: start moto with scripts/moto_serial.py, not the threaded moto_server";

#[tokio::test]
async fn fifty_concurrent_creates_for_one_account_yield_one_migration_and_one_lock() {
    let Some(config) = moto_config().await else { return };
    let (store, _, _) = fresh_table(&config).await;
    let store = Arc::new(store);

    let attempts = (0..50).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let record = sample_record("acme", "000123456789", t0() + Duration::milliseconds(i));
            let result = store.create(&record, &created_event(&record), None).await;
            (record.id, result)
        })
    });
    let results: Vec<(MigrationId, Result<(), StoreError>)> =
        futures_join(attempts.collect()).await.into_iter().map(|r| r.expect("task ran")).collect();

    let winners: Vec<MigrationId> = results.iter().filter(|(_, r)| r.is_ok()).map(|(id, _)| *id).collect();
    assert_eq!(winners.len(), 1, "exactly one create wins ({SERIAL_HINT}): {results:?}");
    let winner = winners[0];
    for (id, result) in &results {
        if *id != winner {
            assert_eq!(
                result,
                &Err(StoreError::AccountLocked { account: "000123456789".parse().unwrap(), existing: winner }),
                "every loser is told who holds the account"
            );
        }
    }
    let listed = store.list(&ListQuery::org("acme".parse().unwrap(), None), 100, None).await.unwrap();
    assert_eq!(listed.items.len(), 1, "one migration stored");
    assert_eq!(listed.items[0].id, winner);
    assert_eq!(store.lock_holder(&"000123456789".parse().unwrap()).await.unwrap(), Some(winner));
    for (id, _) in results.iter().filter(|(id, _)| *id != winner) {
        assert!(store.history(*id).await.unwrap().is_empty(), "no history of a loser");
    }
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await);
    }
    out
}

#[tokio::test]
async fn concurrent_updates_from_one_version_apply_once_and_a_stale_one_writes_nothing() {
    let Some(config) = moto_config().await else { return };
    let (store, client, table) = fresh_table(&config).await;
    let store = Arc::new(store);
    let record = sample_record("acme", "000123456789", t0());
    store.create(&record, &created_event(&record), None).await.unwrap();

    let writers = (0..10).map(|i| {
        let store = store.clone();
        let record = record.clone();
        tokio::spawn(async move {
            let change = ChangeBuilder::new(&record, Actor::System(format!("writer-{i}")), t0() + Duration::seconds(i))
                .transition(Status::Validated, format!("writer {i}"))
                .unwrap()
                .build();
            store.update(&change).await
        })
    });
    let results: Vec<Result<(), StoreError>> = futures_join(writers.collect()).await.into_iter().map(|r| r.unwrap()).collect();

    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{SERIAL_HINT}: {results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| r == &Err(StoreError::VersionConflict(record.id))));
    let history = store.history(record.id).await.unwrap();
    assert_eq!(history.len(), 2, "one created event, one change");
    let raw = client
        .get_item()
        .table_name(&table)
        .key("PK", AttributeValue::S(format!("MIGRATION#{}", record.id)))
        .key("SK", AttributeValue::S("META".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(raw.get("version"), Some(&AttributeValue::N("2".into())), "the version advanced once");
    assert!(!raw.contains_key("GSI2PK"), "a validated record left the work queue");
}

#[tokio::test]
async fn history_items_read_back_raw_become_the_published_event() {
    let Some(config) = moto_config().await else { return };
    let (store, client, table) = fresh_table(&config).await;
    let record = sample_record("acme", "000123456789", t0());
    let created = created_event(&record);
    store.create(&record, &created, None).await.unwrap();
    let change = ChangeBuilder::new(&record, Actor::System("validate".into()), t0() + Duration::minutes(1))
        .progress("checked the role")
        .transition(Status::Validated, "all rules pass")
        .unwrap()
        .build();
    store.update(&change).await.unwrap();

    let items = client
        .query()
        .table_name(&table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("MIGRATION#{}", record.id)))
        .send()
        .await
        .unwrap()
        .items
        .unwrap();

    assert_eq!(items.len(), 4, "meta, created, progress, transition");
    let mut published = Vec::new();
    for item in &items {
        let sk = item["SK"].as_s().unwrap();
        let event = status_changed_from_stream_image(item);
        if sk == "META" {
            assert_eq!(event, None, "the record itself is not an event");
        } else if let Some(event) = event {
            published.push(event);
        }
    }
    let expected: Vec<_> = std::iter::once(&created).chain(&change.events).filter_map(HistoryEvent::status_changed).collect();
    assert_eq!(published, expected, "status changes only, progress entries are not published");
    assert_eq!(published.len(), 2);
    assert_eq!(published[1].from, Some(Status::Requested));
    assert_eq!(published[1].to, Status::Validated);
}

#[tokio::test]
async fn idempotency_keys_carry_an_epoch_ttl() {
    let Some(config) = moto_config().await else { return };
    let (store, client, table) = fresh_table(&config).await;
    let record = sample_record("acme", "000123456789", t0());
    let key = migration::ports::IdempotencyRecord {
        org_id: record.org_id.clone(),
        key: "k-1".into(),
        fingerprint: "f".into(),
        migration_id: record.id,
        created_at: t0(),
        expires_at: t0() + Duration::hours(24),
    };
    store.create(&record, &created_event(&record), Some(&key)).await.unwrap();
    let raw = client
        .get_item()
        .table_name(&table)
        .key("PK", AttributeValue::S("IDEMPOTENCY#acme#k-1".into()))
        .key("SK", AttributeValue::S("KEY".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(raw.get("expires_at"), Some(&AttributeValue::N((t0() + Duration::hours(24)).timestamp().to_string())));
    let ttl = client.describe_time_to_live().table_name(&table).send().await.unwrap();
    assert_eq!(ttl.time_to_live_description().and_then(|d| d.attribute_name()), Some("expires_at"));
}

#[tokio::test]
async fn a_cursor_survives_pages_read_past_a_filter() {
    // Limit applies before the filter: 30 non-matching records between two matching ones.
    let Some(config) = moto_config().await else { return };
    let (store, _, _) = fresh_table(&config).await;
    let mut matching = Vec::new();
    for i in 0..32 {
        let record = sample_record("acme", &format!("0001234567{i:02}"), t0() + Duration::seconds(i));
        store.create(&record, &created_event(&record), None).await.unwrap();
        if i == 0 || i == 31 {
            let change = ChangeBuilder::new(&record, Actor::System("t".into()), t0()).transition(Status::Validated, "v").unwrap().build();
            store.update(&change).await.unwrap();
            matching.push(record.id);
        }
    }
    let org: OrgId = "acme".parse().unwrap();
    let p1 = store.list(&ListQuery::org(org.clone(), Some(Status::Validated)), 1, None).await.unwrap();
    assert_eq!(p1.items.iter().map(|m| m.id).collect::<Vec<_>>(), vec![matching[1]]);
    let p2 = store.list(&ListQuery::org(org.clone(), Some(Status::Validated)), 1, p1.next_cursor.as_deref()).await.unwrap();
    assert_eq!(p2.items.iter().map(|m| m.id).collect::<Vec<_>>(), vec![matching[0]]);
    assert_eq!(p2.next_cursor, None);
}

#[tokio::test]
async fn assume_role_produces_a_session_named_after_the_migration() {
    // moto accepts any ExternalId: this proves the call shape and the session name, not
    // that the ExternalId is enforced.
    let Some(config) = moto_config().await else { return };
    let ports = AwsPorts::from_config(
        &config,
        &migration_aws::Resources::new("unused", "arn:aws:states:us-east-1:123456789012:stateMachine:unused"),
    );
    let role = "arn:aws:iam::123456789012:role/CenturyLinkFullHardening".parse().unwrap();
    let id = MigrationId::new_at(t0());

    let session =
        ports.customer.expect("every port is built").assume(&role, &"cam-acme-7f3a9c".parse().unwrap(), id).await.expect("assumed");

    assert_eq!(session.account_id.as_str(), "123456789012");
    assert!(!session.access_key_id.is_empty() && !session.session_token.is_empty());
    assert!(!format!("{session:?}").contains(&session.secret_access_key), "the session never prints its secret");
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&config)
            .credentials_provider(aws_credential_types::Credentials::new(
                session.access_key_id.clone(),
                session.secret_access_key.clone(),
                Some(session.session_token.clone()),
                None,
                "t",
            ))
            .build(),
    );
    let identity = sts.get_caller_identity().send().await.unwrap();
    assert!(identity.arn().unwrap().ends_with(&format!("/cam-migration-{id}")), "{:?}", identity.arn());
}

#[tokio::test]
async fn the_customer_organization_is_read_through_the_session() {
    let Some(config) = moto_config().await else { return };
    let orgs = aws_sdk_organizations::Client::new(&config);
    partner_root(&orgs).await;
    let member = orgs
        .create_account()
        .email(format!("{}@example.invalid", unique("cust")))
        .account_name(unique("cust"))
        .send()
        .await
        .unwrap()
        .create_account_status()
        .and_then(|s| s.account_id())
        .unwrap()
        .to_owned();
    let access = AwsCustomerAccess::new(aws_sdk_sts::Client::new(&config), config.clone());
    let external_id: migration::ExternalId = "cam-acme-7f3a9c".parse().unwrap();
    let org_of = |account: String| {
        let access = access.clone();
        let external_id = external_id.clone();
        async move {
            let role = format!("arn:aws:iam::{account}:role/CenturyLinkReadOnly").parse().unwrap();
            let session = access.assume(&role, &external_id, MigrationId::new_at(t0())).await.unwrap();
            access.organization(&session).await
        }
    };

    let management = org_of("123456789012".into()).await.unwrap();
    let CustomerOrganization::ManagementAccount { member_count: Some(count), .. } = management else { panic!("{management:?}") };
    assert!(count >= 2, "the management account and at least the member: {count}");

    let as_member = org_of(member).await.unwrap();
    assert!(
        matches!(&as_member, CustomerOrganization::Member { management_account_id, .. } if management_account_id.as_str() == "123456789012"),
        "{as_member:?}"
    );

    assert_eq!(org_of("000999888777".into()).await.unwrap(), CustomerOrganization::Standalone);
}

#[tokio::test]
async fn moving_an_account_that_is_already_there_is_done() {
    let Some(fixture) = fresh_org_fixture().await else { return };
    let root = fixture.orgs.parent_of(&fixture.member).await.unwrap();
    fixture.orgs.move_account(&fixture.member, &root, &fixture.other_parent).await.unwrap();

    // A retry of the same move after it succeeded.
    fixture.orgs.move_account(&fixture.member, &root, &fixture.other_parent).await.expect("already there is done");

    assert_eq!(fixture.orgs.parent_of(&fixture.member).await.unwrap(), fixture.other_parent);
}

#[tokio::test]
async fn a_member_is_active_from_its_state_and_its_parent_is_left_to_list_parents() {
    // moto 5.2.1 answers DescribeAccount with `State` (and the retired `Status`) but no
    // `Paths`: the parent is unknown there and the hardening scan asks ListParents.
    let Some(fixture) = fresh_org_fixture().await else { return };
    let membership = fixture.orgs.membership(&fixture.member).await.unwrap().expect("a member");
    assert_eq!(membership.state, migration::ports::AccountState::Active);
    assert!(membership.is_active());
    assert_eq!(membership.parent, None, "moto gives no Paths");
    assert!(fixture.orgs.parent_of(&fixture.member).await.unwrap().starts_with("r-"), "a new account is under the root");
}
