//! Property tests for the typed ids. Run with `cargo test -p shop-domain --test ids`.

use proptest::prelude::*;
use shop_domain::{CategoryId, OrderId, ProductId, UserId};
use uuid::Uuid;

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid::from_bytes)
}

proptest! {
    #[test]
    fn display_then_parse_is_the_identity(uuid in uuid()) {
        let id = ProductId::from_uuid(uuid);
        prop_assert_eq!(id.to_string().parse::<ProductId>(), Ok(id));
        let id = UserId::from_uuid(uuid);
        prop_assert_eq!(id.to_string().parse::<UserId>(), Ok(id));
    }

    #[test]
    fn json_is_the_plain_uuid_string(uuid in uuid()) {
        let id = OrderId::from_uuid(uuid);
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(&json, &format!("\"{}\"", uuid.hyphenated()));
        prop_assert_eq!(serde_json::from_str::<OrderId>(&json).unwrap(), id);
    }

    #[test]
    fn parse_accepts_upper_case_and_the_simple_form(uuid in uuid()) {
        let id = CategoryId::from_uuid(uuid);
        let upper = uuid.hyphenated().to_string().to_uppercase();
        let simple = uuid.simple().to_string();
        prop_assert_eq!(upper.parse::<CategoryId>(), Ok(id));
        prop_assert_eq!(simple.parse::<CategoryId>(), Ok(id));
    }

    #[test]
    fn a_damaged_uuid_is_rejected(uuid in uuid(), cut in 0_usize..36) {
        let mut text = uuid.hyphenated().to_string();
        text.remove(cut);
        let error = text.parse::<ProductId>().unwrap_err();
        prop_assert_eq!(error.kind, "ProductId");
        let json = serde_json::to_string(&text).unwrap();
        prop_assert!(serde_json::from_str::<ProductId>(&json).is_err());
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(s in "\\PC*") {
        let _ = s.parse::<UserId>();
    }
}

#[test]
fn generated_ids_are_unique_and_in_creation_order() {
    let ids: Vec<OrderId> = (0..10_000).map(|_| OrderId::generate()).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "UUID v7 ids from one process must strictly increase"
    );
}
