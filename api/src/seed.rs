//! A deterministic generator of realistic customers, for the demo tenant and benchmarks:
//! `guanxi seed --tenant T --customers N [--seed S]`. The same seed gives the same data.

use chrono::{Duration, TimeZone, Utc};
use guanxi_entity::customer;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::domain::Role;
use crate::domain::identity::TokenIdentity;
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
    let tenant = store::tenants::get_or_create(db, tenant_slug).await?;
    let mut ids = Vec::new();
    for (subject, name, email) in OWNERS {
        let token = TokenIdentity {
            tenant_slug: tenant_slug.to_owned(),
            subject: (*subject).to_owned(),
            role: Role::Agent,
            name: Some((*name).to_owned()),
            email: Some((*email).to_owned()),
        };
        ids.push(store::users::upsert(db, tenant.id, &token).await?.id);
    }
    Ok(ids)
}

/// Generates `count` customers into the tenant `tenant_slug`; returns how many it wrote.
///
/// # Errors
/// Database failures.
pub async fn customers(db: &DatabaseConnection, tenant_slug: &str, count: u64, seed: u64) -> Result<u64> {
    let owner_ids = owners(db, tenant_slug).await?;
    let tenant = store::tenants::get_or_create(db, tenant_slug).await?;
    let existing = customer::Entity::find().filter(customer::Column::TenantId.eq(tenant.id)).count(db).await?;
    let mut rng = StdRng::seed_from_u64(seed ^ existing);
    let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap_or_else(Utc::now);
    let mut batch = Vec::with_capacity(BATCH);
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
            tier: None,
            version: 1,
            created_at: created,
            updated_at: created,
        });
        if batch.len() == BATCH {
            store::customers::insert_many(db, std::mem::take(&mut batch)).await?;
        }
    }
    store::customers::insert_many(db, batch).await?;
    // Fresh statistics, so the planner picks the keyset indexes right after a bulk load; on
    // PostgreSQL also the visibility map, so counts can be index-only scans before autovacuum.
    let analyze = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "VACUUM ANALYZE customers",
        _ => "ANALYZE customers",
    };
    db.execute_unprepared(analyze).await?;
    Ok(count)
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
