//! A deterministic generator of realistic customers, for the demo tenant and benchmarks:
//! `guanxi seed --tenant T --customers N [--seed S]`. The same seed gives the same data.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use guanxi_entity::customer;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::domain::Role;
use crate::domain::values::CreditCode;
use crate::error::Result;
use crate::store;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗",
    "高",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "建华", "晓东",
];
const FIRST: &[&str] = &[
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Sophia", "James", "Grace", "Henry", "Chloe",
    "Daniel",
];
const LAST: &[&str] =
    &["Smith", "Chen", "Johnson", "Wong", "Brown", "Lee", "Garcia", "Miller", "Davis", "Tan", "Wilson", "Taylor"];
const CITIES: &[(&str, &str)] = &[
    ("北京", "110000"),
    ("上海", "310000"),
    ("广州", "440100"),
    ("深圳", "440300"),
    ("杭州", "330100"),
    ("成都", "510100"),
    ("武汉", "420100"),
    ("南京", "320100"),
    ("西安", "610100"),
    ("苏州", "320500"),
];
const COMPANY_WORDS: &[&str] =
    &["华信", "天成", "宏达", "新时代", "锦程", "瑞丰", "恒通", "东方", "蓝海", "智远", "鼎盛", "佳禾"];
const COMPANY_KINDS: &[&str] =
    &["科技有限公司", "贸易有限公司", "制造有限公司", "物流有限公司", "餐饮管理有限公司", "信息技术有限公司"];
const EN_COMPANIES: &[&str] = &["Trading Ltd.", "Logistics Co.", "Foods Inc.", "Systems GmbH", "Partners LLC"];
const INDUSTRIES: &[&str] =
    &["制造业", "零售", "信息技术", "金融", "物流", "餐饮", "教育", "医疗", "房地产", "Manufacturing", "Software"];
const CHANNELS: &[&str] = &["referral", "website", "wechat", "trade-show", "cold-call", "partner"];
const TAGS: &[&str] = &["vip", "重点跟进", "newsletter", "wholesale", "续约", "price-sensitive", "B2B", "生日关怀"];
const STATUSES: &[(&str, u32)] = &[("PROSPECT", 25), ("TARGET", 15), ("ACTIVE", 45), ("LOST", 10), ("NON_CUSTOMER", 5)];
const RELATIONSHIPS: &[&str] = &[
    "TRANSACTIONAL",
    "COOPERATIVE",
    "LOYAL",
    "COMMUNITY",
    "PERSONALIZED",
    "ADVISORY",
    "EMOTIONAL",
    "SUPPORT",
    "EDUCATIONAL",
    "INTERACTIVE",
];
/// Account managers every seeded tenant gets: (subject, name, e-mail).
pub const OWNERS: &[(&str, &str, &str)] = &[
    ("zhang.wei", "张伟", "zhang.wei@example.com"),
    ("li.na", "李娜", "li.na@example.com"),
    ("wang.fang", "王芳", "wang.fang@example.com"),
    ("alex.chen", "Alex Chen", "alex.chen@example.com"),
    ("emma.smith", "Emma Smith", "emma.smith@example.com"),
];
/// Rows per INSERT: well under PostgreSQL's 65,535 bind parameters (17 per row).
const BATCH: usize = 1000;
const CODE_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn weighted<'a>(rng: &mut StdRng, items: &'a [(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (item, w) in items {
        if pick < *w {
            return item;
        }
        pick -= w;
    }
    items[0].0
}

/// 31^9: how many organization codes one region has.
const ORG_CODES: u64 = 26_439_622_160_671;

/// A valid credit code, unique for each `serial` within a region. The serial is scattered
/// (multiplying by a prime other than 31 permutes the codes) so codes do not look sequential.
fn credit_code(region: &str, serial: u64) -> String {
    let mut org = Vec::with_capacity(9);
    let mut n = (u128::from(serial) * 1_000_003 + 7_654_321) % u128::from(ORG_CODES);
    for _ in 0..9 {
        org.push(CODE_CHARS[usize::try_from(n % 31).unwrap_or(0)]);
        n /= 31;
    }
    org.reverse();
    let first17 = format!("91{region}{}", String::from_utf8_lossy(&org));
    let check = CreditCode::check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// Creates the tenant's account managers if missing and returns their ids.
///
/// # Errors
/// Database failures.
pub async fn owners(db: &DatabaseConnection, tenant_slug: &str) -> Result<Vec<Uuid>> {
    let (tenant, _) = store::tenants::get_or_create(db, tenant_slug).await?;
    let mut ids = Vec::new();
    for (subject, name, email) in OWNERS {
        let agent = store::users::Claimed { subject, role: Role::Agent.as_str(), name: Some(name), email: Some(email) };
        ids.push(store::users::upsert(db, tenant.id, agent).await?.id);
    }
    Ok(ids)
}

/// What a seeding run wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    pub customers: u64,
    pub interactions: u64,
    pub complaints: u64,
    pub plans: u64,
}

impl Seeded {
    /// Every row written, for rows-per-second figures.
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.customers + self.interactions + self.complaints + self.plans
    }
}

/// Generates `count` customers with about `per_customer` interactions each (a long-tailed
/// purchase history, surveys, visits…), complaints in every state and plans for some
/// organizations, into the tenant `tenant_slug`, with their figures.
///
/// # Errors
/// Database failures.
pub async fn customers(
    db: &DatabaseConnection,
    tenant_slug: &str,
    count: u64,
    seed: u64,
    per_customer: u32,
) -> Result<Seeded> {
    let owner_ids = owners(db, tenant_slug).await?;
    let (tenant, _) = store::tenants::get_or_create(db, tenant_slug).await?;
    let existing = customer::Entity::find().filter(customer::Column::TenantId.eq(tenant.id)).count(db).await?;
    let mut rng = StdRng::seed_from_u64(seed ^ existing);
    let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap_or_else(Utc::now);
    let mut batch = Vec::with_capacity(BATCH);
    let mut seeded = Seeded::default();
    for i in 0..count {
        let serial = existing + i;
        let created = start + Duration::seconds(rng.random_range(0..(2 * 365 * 24 * 3600)));
        let created = created.with_timezone(&Utc);
        let mut bytes = [0u8; 10];
        rng.fill(&mut bytes);
        let id =
            uuid::Builder::from_unix_timestamp_millis(u64::try_from(created.timestamp_millis()).unwrap_or(0), &bytes)
                .into_uuid();
        let (city, region_code) = *CITIES.choose(&mut rng).unwrap_or(&CITIES[0]);
        let organization = rng.random_bool(0.35);
        let (name, credit, email) = if organization {
            let name = if rng.random_bool(0.8) {
                format!(
                    "{city}{}{}",
                    COMPANY_WORDS.choose(&mut rng).unwrap_or(&"华信"),
                    COMPANY_KINDS.choose(&mut rng).unwrap_or(&"科技有限公司")
                )
            } else {
                format!(
                    "{} {}",
                    LAST.choose(&mut rng).unwrap_or(&"Chen"),
                    EN_COMPANIES.choose(&mut rng).unwrap_or(&"Trading Ltd.")
                )
            };
            (
                name,
                Some(credit_code(region_code, serial)),
                Some(format!("contact{serial}@corp{}.example.cn", serial % 997)),
            )
        } else if rng.random_bool(0.7) {
            let name =
                format!("{}{}", SURNAMES.choose(&mut rng).unwrap_or(&"王"), GIVEN.choose(&mut rng).unwrap_or(&"伟"));
            (name, None, rng.random_bool(0.6).then(|| format!("user{serial}@mail.example.cn")))
        } else {
            let (first, last) = (FIRST.choose(&mut rng).unwrap_or(&"Emma"), LAST.choose(&mut rng).unwrap_or(&"Chen"));
            (
                format!("{first} {last}"),
                None,
                Some(format!("{}.{}{serial}@example.com", first.to_lowercase(), last.to_lowercase())),
            )
        };
        let tag_count = rng.random_range(0..3);
        let tags: Vec<&str> = TAGS.choose_multiple(&mut rng, tag_count).copied().collect();
        let phone = rng
            .random_bool(0.8)
            .then(|| format!("1{}{:09}", rng.random_range(3..=9), rng.random_range(0..1_000_000_000u64)));
        batch.push(customer::Model {
            tenant_id: tenant.id,
            id,
            kind: if organization { "ORGANIZATION" } else { "INDIVIDUAL" }.into(),
            name,
            email,
            phone,
            region: Some(city.to_owned()),
            industry: organization.then(|| (*INDUSTRIES.choose(&mut rng).unwrap_or(&"制造业")).to_owned()),
            credit_code: credit,
            channel: Some((*CHANNELS.choose(&mut rng).unwrap_or(&"website")).to_owned()),
            tags: json!(tags),
            status: weighted(&mut rng, STATUSES).to_owned(),
            relationship_type: rng
                .random_bool(0.6)
                .then(|| (*RELATIONSHIPS.choose(&mut rng).unwrap_or(&"LOYAL")).to_owned()),
            owner_id: rng.random_bool(0.9).then(|| *owner_ids.choose(&mut rng).unwrap_or(&owner_ids[0])),
            custom_fields: serde_json::json!({}),
            version: 1,
            created_at: created,
            updated_at: created,
            // A field added later stays empty in seeded data.
            ..Default::default()
        });
        if batch.len() == BATCH {
            write_batch(db, &mut rng, std::mem::take(&mut batch), per_customer, &owner_ids, &mut seeded).await?;
        }
    }
    write_batch(db, &mut rng, batch, per_customer, &owner_ids, &mut seeded).await?;
    // Every customer waits to be scored by the tenant's scorers (a running server's worker, or
    // the next one to start).
    store::scoring::sweep_all(db, tenant.id, Uuid::now_v7()).await?;
    // Fresh statistics, so the planner picks the keyset indexes right after a bulk load; on
    // PostgreSQL also the visibility map, so counts can be index-only scans before autovacuum.
    // `customer_scores` too: without its row counts, SQLite took one of its computed-value
    // indexes for a selective one and read every customer of the tenant through it for a page
    // of customers (the 360° page's customers took 173 ms on 30,000; through the status-and-name
    // index they take a few milliseconds).
    for table in ["customers", "customer_scores", "interactions", "complaints", "customer_stats", "key_account_plans"] {
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared(&format!("VACUUM ANALYZE {table}")).await?;
        } else {
            store::analyze(db, table).await?;
        }
    }
    Ok(seeded)
}

const KINDS: &[(&str, u32)] = &[
    ("PURCHASE", 35),
    ("CALL", 15),
    ("VISIT", 12),
    ("EMAIL", 10),
    ("MESSAGE", 8),
    ("SURVEY", 7),
    ("FOLLOW_UP", 5),
    ("MEETING", 3),
    ("CARE", 2),
    ("SUPPORT", 2),
    ("EVENT", 1),
];
const SEVERITY_WEIGHTS: &[(&str, u32)] = &[("LOW", 40), ("MEDIUM", 35), ("HIGH", 20), ("CRITICAL", 5)];
const CATEGORIES: &[&str] = &["PRODUCT_QUALITY", "SERVICE", "DELIVERY", "BILLING", "OTHER"];
/// Legal paths from OPEN to every complaint state.
const PATHS: &[&[&str]] = &[
    &[],
    &["ACKNOWLEDGED"],
    &["ACKNOWLEDGED", "IN_PROGRESS"],
    &["ESCALATED"],
    &["ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED"],
    &["ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED", "REOPENED"],
    &["ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED", "CLOSED"],
];
const SUMMARIES: &[&str] =
    &["了解需求", "报价跟进", "Discussed renewal", "产品演示", "售后回访", "Sent catalogue", "节日问候"];

fn v7(rng: &mut StdRng, at: DateTime<Utc>) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill(&mut bytes);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(at.timestamp_millis()).unwrap_or(0), &bytes).into_uuid()
}

fn between(rng: &mut StdRng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_seconds().max(1);
    from + Duration::seconds(rng.random_range(0..span))
}

/// Writes one batch of customers with their timelines, complaints, plans and figures, in one
/// transaction (SQLite is far faster with few commits).
#[expect(clippy::too_many_lines, reason = "one realistic customer's whole history, field by field")]
async fn write_batch(
    db: &DatabaseConnection,
    rng: &mut StdRng,
    customers: Vec<customer::Model>,
    per_customer: u32,
    owners: &[Uuid],
    seeded: &mut Seeded,
) -> Result<()> {
    use sea_orm::IntoActiveModel;
    let now = crate::clock::now();
    let settings = crate::domain::settings::TenantSettings::default();
    let (mut interactions, mut complaints, mut transitions, mut plans, mut actions, mut stats) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in &customers {
        let mut mine = Vec::new();
        let n =
            if per_customer == 0 { 0 } else { rng.random_range(per_customer / 2..=per_customer + per_customer / 2) };
        for _ in 0..n {
            let kind = weighted(rng, KINDS);
            let at = between(rng, c.created_at, now);
            let (mut amount, mut currency, mut satisfaction, mut again) = (None, None, None, None);
            if kind == "PURCHASE" {
                // A long tail: most orders small, a few very large.
                let u: f64 = rng.random_range(0.0..0.999);
                #[expect(clippy::cast_possible_truncation, reason = "at most 1e10, well inside i64")]
                let cents = (5_000.0 * (1.0 / (1.0 - u)).powf(1.6)).min(1e10) as i64;
                amount = Some(rust_decimal::Decimal::new(cents, 2).to_string());
                currency = Some(if rng.random_bool(0.05) { "USD" } else { "CNY" }.to_owned());
            }
            if kind == "SURVEY" {
                satisfaction =
                    Some(weighted(rng, &[("1", 5), ("2", 8), ("3", 20), ("4", 40), ("5", 27)]).parse().unwrap_or(4));
                again = rng.random_bool(0.7).then(|| satisfaction.unwrap_or(3) >= 3 && rng.random_bool(0.85));
            }
            mine.push(guanxi_entity::interaction::Model {
                tenant_id: c.tenant_id,
                id: v7(rng, at),
                customer_id: c.id,
                kind: kind.to_owned(),
                channel: Some((*CHANNELS.choose(rng).unwrap_or(&"wechat")).to_owned()),
                occurred_at: at,
                staff_id: c.owner_id,
                summary: Some((*SUMMARIES.choose(rng).unwrap_or(&"跟进")).to_owned()),
                outcome: None,
                amount,
                currency,
                satisfaction,
                would_buy_again: again,
                custom_fields: serde_json::json!({}),
                version: 1,
                created_at: at,
                updated_at: at,
                ..Default::default()
            });
        }
        let mut mine_complaints = Vec::new();
        let complaints_here = if rng.random_bool(0.1) { 1 + u32::from(rng.random_bool(0.2)) } else { 0 };
        for _ in 0..complaints_here {
            let filed = between(rng, c.created_at, now);
            let severity = weighted(rng, SEVERITY_WEIGHTS);
            let (response_due_at, resolution_due_at) =
                crate::domain::complaints::deadlines(filed, severity, None, &settings);
            let path = PATHS.choose(rng).copied().unwrap_or(&[]);
            let id = v7(rng, filed);
            let mut status = "OPEN".to_owned();
            let mut at = filed;
            let (mut responded_at, mut resolved_at) = (None, None);
            let mut push = |from: Option<&str>, to: &str, at: DateTime<Utc>| {
                transitions.push(guanxi_entity::complaint_transition::Model {
                    tenant_id: c.tenant_id,
                    id: Uuid::now_v7(),
                    complaint_id: id,
                    from_status: from.map(str::to_owned),
                    to_status: to.to_owned(),
                    by_id: c.owner_id,
                    note: None,
                    at,
                });
            };
            push(None, "OPEN", filed);
            for step in path {
                at = (at + Duration::minutes(rng.random_range(10..3000))).min(now);
                responded_at = responded_at.or(Some(at));
                resolved_at = match *step {
                    "RESOLVED" => Some(at),
                    "REOPENED" => None,
                    _ => resolved_at,
                };
                push(Some(&status), step, at);
                status = (*step).to_owned();
            }
            mine_complaints.push((severity.to_owned(), status.clone()));
            complaints.push(guanxi_entity::complaint::Model {
                tenant_id: c.tenant_id,
                id,
                customer_id: c.id,
                title: format!("{}问题", ["质量", "服务", "配送", "账单", "其他"][rng.random_range(0..5)]),
                category: (*CATEGORIES.choose(rng).unwrap_or(&"OTHER")).to_owned(),
                severity: severity.to_owned(),
                status,
                assignee_id: c.owner_id,
                resolution: resolved_at.map(|_| "已处理".to_owned()),
                satisfaction: resolved_at.map(|_| rng.random_range(2..=5)),
                response_due_at,
                resolution_due_at,
                responded_at,
                resolved_at,
                // Seeded history is not announced: deadlines already past count as told.
                response_breach_told: responded_at.is_none() && response_due_at < now,
                resolution_breach_told: resolved_at.is_none() && resolution_due_at < now,
                custom_fields: serde_json::json!({}),
                version: 1 + i32::try_from(path.len()).unwrap_or(0),
                created_at: filed,
                updated_at: at,
                ..Default::default()
            });
        }
        if c.kind == "ORGANIZATION" && rng.random_bool(0.1) {
            let year = now.year();
            let start = chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(now.date_naive());
            let end = chrono::NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(now.date_naive());
            let plan_id = v7(rng, now);
            for (i, title) in ["拜访总经理", "季度业务回顾", "年度续约谈判"].iter().enumerate() {
                let due = start + chrono::Days::new(90 * (i as u64 + 1));
                actions.push(guanxi_entity::plan_action::Model {
                    tenant_id: c.tenant_id,
                    id: v7(rng, now),
                    plan_id,
                    title: (*title).to_owned(),
                    due_date: Some(due),
                    assignee_id: c.owner_id,
                    done: due < now.date_naive() && rng.random_bool(0.7),
                    done_at: None,
                    created_at: now,
                });
            }
            #[expect(clippy::needless_update, reason = "a field added to plans later stays empty in seeded data")]
            plans.push(guanxi_entity::key_account_plan::Model {
                tenant_id: c.tenant_id,
                id: plan_id,
                customer_id: c.id,
                title: format!("{year} {} 大客户计划", c.name),
                status: weighted(rng, &[("ACTIVE", 70), ("DRAFT", 15), ("COMPLETED", 15)]).to_owned(),
                period_start: start,
                period_end: end,
                revenue_target: Some(rust_decimal::Decimal::new(rng.random_range(10..500) * 10_000, 0).to_string()),
                currency: "CNY".into(),
                planned_visits: rng.random_range(4..=12),
                objectives: json!(["续约", "交叉销售"]),
                team_ids: json!(c.owner_id.map(|o| vec![o.to_string()]).unwrap_or_default()),
                owner_id: c.owner_id.or_else(|| owners.first().copied()),
                custom_fields: serde_json::json!({}),
                version: 1,
                created_at: now,
                updated_at: now,
                ..Default::default()
            });
        }
        stats.push(crate::domain::stats::compute(c.tenant_id, c.id, &mine, &mine_complaints));
        interactions.extend(mine);
    }
    seeded.customers += customers.len() as u64;
    seeded.interactions += interactions.len() as u64;
    seeded.complaints += complaints.len() as u64;
    seeded.plans += plans.len() as u64;
    let txn = store::begin_write(db).await?;
    if let Some(first) = customers.first() {
        let ids: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
        store::scoring::add_rows(&txn, first.tenant_id, &ids).await?;
    }
    store::insert_all(&txn, customers.into_iter().map(|m| m.into_active_model().reset_all()).collect(), 1000).await?;
    store::insert_all(&txn, interactions.into_iter().map(|m| m.into_active_model().reset_all()).collect(), 1000)
        .await?;
    store::insert_all(&txn, complaints.into_iter().map(|m| m.into_active_model().reset_all()).collect(), 1000).await?;
    store::insert_all(&txn, transitions.into_iter().map(|m| m.into_active_model().reset_all()).collect(), 1000).await?;
    store::insert_all(&txn, plans.into_iter().map(|m| m.into_active_model().reset_all()).collect(), 1000).await?;
    store::insert_all(&txn, actions.into_iter().map(|m| m.into_active_model().reset_all()).collect(), 1000).await?;
    store::insert_all(&txn, stats.into_iter().map(|m| m.into_active_model().reset_all()).collect(), 1000).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_credit_codes_are_valid_and_distinct() {
        let a = super::credit_code("110000", 1);
        let b = super::credit_code("110000", 2);
        assert_ne!(a, b);
        for c in [a, b, super::credit_code("440300", 123_456_789)] {
            assert!(crate::domain::values::CreditCode::parse(&c).is_ok(), "{c}");
        }
    }
}
