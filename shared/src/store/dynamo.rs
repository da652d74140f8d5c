//! The DynamoDB store: one table, string keys `pk`/`sk`, items mapped with `serde_dynamo`
//! at this edge only. Layout (DESIGN §6):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | tenant profile | `TENANT#<id>` | `TENANT` |
//! | API-key lookup | `APIKEY#<sha256 hex>` | `APIKEY` |
//! | provider identity → user | `IDENTITY#<sha256 of tenant, iss, sub>` | `IDENTITY` |
//! | sandbox user | `USER#<user id>` | `USER` |
//! | session (token family) | `SESSIONS#<tenant id>#<user id>` | `SESSION#<session id>` |
//!
//! A user's sessions share a partition, so that a sign-out of all of them is one
//! strongly consistent `Query` of that partition, never a scan, and no index (a GSI
//! would double every session write and could only be read eventually consistently).
//! A partition holds one user's sessions of the last refresh-token lifetime (30 days by
//! default; DynamoDB's TTL removes older ones), far from any partition limit.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, Delete, KeySchemaElement, KeyType, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Ending, Rotation, Store, StoreError};
use crate::domain::{
    ApiKeyEntry, Identity, KeyHash, SandboxUser, Session, SessionKey, Tenant, TenantId, UserId,
};

type Item = HashMap<String, AttributeValue>;

/// The attribute DynamoDB's TTL deletes expired items by (seconds since the epoch).
pub const TTL_ATTRIBUTE: &str = "expiresAt";

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn tenant_key(id: &TenantId) -> Item {
    key(format!("TENANT#{id}"), "TENANT")
}

fn api_key_key(hash: &KeyHash) -> Item {
    key(format!("APIKEY#{}", hash.to_hex()), "APIKEY")
}

fn identity_key(identity: &Identity) -> Item {
    key(format!("IDENTITY#{}", identity.lookup_key()), "IDENTITY")
}

fn user_key(user_id: &str) -> Item {
    key(format!("USER#{user_id}"), "USER")
}

fn sessions_partition(tenant: &TenantId, user: &str) -> String {
    format!("SESSIONS#{tenant}#{user}")
}

const SESSION_PREFIX: &str = "SESSION#";

fn session_key(session: &SessionKey) -> Item {
    key(
        sessions_partition(&session.tenant_id, &session.user_id),
        &format!("{SESSION_PREFIX}{}", session.session_id),
    )
}

/// The domain value's attributes plus its key.
fn to_item<T: Serialize>(value: &T, key: Item) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(Box::new(e)))?;
    item.extend(key);
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(Box::new(e)))
}

fn put_if_absent(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(unavailable)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The tenant item, if the stored one is still at `expected` (the optimistic lock of
/// every tenant write).
fn tenant_put_at(table: &str, tenant: &Tenant, expected: u64) -> Result<Put, StoreError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(to_item(tenant, tenant_key(&tenant.id))?))
        .condition_expression("attribute_exists(pk) AND version = :expected")
        .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        .build()
        .map_err(unavailable)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Opens the connection (DNS, TCP, TLS) and checks that the table answers, with one
    /// read of an item that never exists: done at init, where the CPU is the function's,
    /// so the first request does not pay for it.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        self.get::<serde_json::Value>(key("WARMUP".to_owned(), "WARMUP"))
            .await
            .map(drop)
    }

    /// Creates the table as `template.yaml` declares it (for emulators and tests; in AWS
    /// the stack owns the table).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(unavailable)
        };
        let schema = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(unavailable)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(schema("pk", KeyType::Hash)?)
            .key_schema(schema("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(unavailable)?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(unavailable)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// A `PutItem` conditional on the item being new. `Ok(None)` when written; on a
    /// failed condition, the item that was there. An item that is exactly this one is
    /// this call's own write, seen by a retry after an attempt that timed out but
    /// committed: written.
    async fn put_new(&self, item: Item) -> Result<Option<Item>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                PutItemError::ConditionalCheckFailedException(c) => match c.item {
                    Some(there) if there == item => Ok(None),
                    there => Ok(Some(there.unwrap_or_default())),
                },
                other => Err(unavailable(other)),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    /// One `TransactWriteItems`: all of `writes` or none. A failed condition, or a
    /// concurrent transaction on one of the items (DynamoDB cancels one of the two with
    /// `TransactionConflict`), is [`StoreError::Conflict`]: the caller lost a race.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                TransactWriteItemsError::TransactionCanceledException(c)
                    if c.cancellation_reasons().iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) =>
                {
                    Err(StoreError::Conflict)
                }
                other => Err(unavailable(other)),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get<T: DeserializeOwned>(&self, key: Item) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(from_item).transpose()
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        keys: &[ApiKeyEntry],
        admin: &Session,
    ) -> Result<(), StoreError> {
        let mut writes = vec![
            put_if_absent(&self.table, to_item(tenant, tenant_key(&tenant.id))?)?,
            put_if_absent(&self.table, to_item(admin, session_key(&admin.key()))?)?,
        ];
        for entry in keys {
            writes.push(put_if_absent(
                &self.table,
                to_item(entry, api_key_key(&entry.hash))?,
            )?);
        }
        self.transact(writes).await
    }

    async fn replace_private_key(
        &self,
        tenant: &Tenant,
        expected_version: u64,
        old: KeyHash,
        new: &ApiKeyEntry,
    ) -> Result<(), StoreError> {
        let delete_old = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(api_key_key(&old)))
            .build()
            .map_err(unavailable)?;
        self.transact(vec![
            TransactWriteItem::builder()
                .put(tenant_put_at(&self.table, tenant, expected_version)?)
                .build(),
            put_if_absent(&self.table, to_item(new, api_key_key(&new.hash))?)?,
            TransactWriteItem::builder().delete(delete_old).build(),
        ])
        .await
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(tenant_key(id)).await
    }

    async fn api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyEntry>, StoreError> {
        self.get(api_key_key(hash)).await
    }

    async fn update_tenant(
        &self,
        tenant: &Tenant,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let put = tenant_put_at(&self.table, tenant, expected_version)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_values(put.expression_attribute_values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                // The old item comes back with the failure: present means it changed
                // under us, absent means it does not exist.
                PutItemError::ConditionalCheckFailedException(c) => match c.item {
                    Some(_) => Err(StoreError::Conflict),
                    None => Err(StoreError::NotFound),
                },
                // A key regeneration's transaction held the tenant item at that moment.
                PutItemError::TransactionConflictException(_) => Err(StoreError::Conflict),
                other => Err(unavailable(other)),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn link_identity(&self, identity: &Identity) -> Result<UserId, StoreError> {
        match self
            .put_new(to_item(identity, identity_key(identity))?)
            .await?
        {
            None => Ok(identity.user_id.clone()),
            Some(existing) => from_item::<Identity>(existing).map(|found| found.user_id),
        }
    }

    async fn create_sandbox_user(&self, user: &SandboxUser) -> Result<(), StoreError> {
        match self
            .put_new(to_item(user, user_key(&user.user_id))?)
            .await?
        {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        match self
            .put_new(to_item(session, session_key(&session.key()))?)
            .await?
        {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict),
        }
    }

    async fn session(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        self.get(session_key(key)).await
    }

    async fn user_sessions(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Vec<Session>, StoreError> {
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(sessions_partition(tenant, user)))
            .expression_attribute_values(":prefix", AttributeValue::S(SESSION_PREFIX.to_owned()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let items: Vec<Item> = pages.collect::<Result<_, _>>().await.map_err(unavailable)?;
        items.into_iter().map(from_item).collect()
    }

    async fn rotate_session(
        &self,
        key: &SessionKey,
        from: u64,
        now: i64,
    ) -> Result<Rotation, StoreError> {
        let n = |v: u64| AttributeValue::N(v.to_string());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(key)))
            .update_expression("SET #gen = :next, #rot = :now")
            .condition_expression("#gen = :from AND #rev = :false AND #exp > :now")
            .expression_attribute_names("#gen", "generation")
            .expression_attribute_names("#rot", "rotatedAt")
            .expression_attribute_names("#rev", "revoked")
            .expression_attribute_names("#exp", TTL_ATTRIBUTE)
            .expression_attribute_values(":from", n(from))
            .expression_attribute_values(":next", n(from + 1))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Corrupt("rotation returned no attributes".into()))?;
                from_item(item).map(Rotation::Rotated)
            }
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                UpdateItemError::ConditionalCheckFailedException(c) => {
                    c.item.map(from_item).transpose().map(Rotation::Failed)
                }
                other => Err(unavailable(other)),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn end_session(
        &self,
        key: &SessionKey,
        presented: u64,
        now: i64,
        grace_seconds: i64,
    ) -> Result<Ending, StoreError> {
        let n = |v: i64| AttributeValue::N(v.to_string());
        let presented = i64::try_from(presented).unwrap_or(i64::MAX - 1);
        // `Session::accepts`, as a condition: the current generation, or the parent
        // rotated away from no more than the grace interval ago.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(key)))
            .update_expression("SET #rev = :true")
            .condition_expression(
                "attribute_exists(pk) AND (#gen = :gen OR (#gen = :child AND #rot >= :since))",
            )
            .expression_attribute_names("#rev", "revoked")
            .expression_attribute_names("#gen", "generation")
            .expression_attribute_names("#rot", "rotatedAt")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":gen", n(presented))
            .expression_attribute_values(":child", n(presented + 1))
            .expression_attribute_values(":since", n(now - grace_seconds))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let before: Session = from_item(out.attributes.unwrap_or_default())?;
                Ok(Ending::Ended {
                    was_live: before.is_live(now),
                })
            }
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                UpdateItemError::ConditionalCheckFailedException(c) => {
                    c.item.map(from_item).transpose().map(Ending::Refused)
                }
                other => Err(unavailable(other)),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn revoke_session(&self, key: &SessionKey) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(key)))
            .update_expression("SET #rev = :true")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#rev", "revoked")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
