//! `cargo xtask import`: a marketplace's CSV and JSON Lines files into a table through
//! the marketplace's use cases, against DynamoDB Local: what it creates, that a second
//! run changes nothing (no opening balance credited twice), refusals that store
//! nothing, a dry run that writes nothing, and a run carried on from its progress file.

use std::path::{Path, PathBuf};

use devkit::import::{read_records, FileReport, ImportRun, Kind};
use devkit::invariants::assert_books_balance;
use devkit::paths;
use devkit::testing::fresh_store;
use domain::actor::ServiceCaller;
use domain::money::Paise;
use domain::order::OrderStatus;
use service::config::PayoutLimits;
use service::marketplace::import::Importer;
use store::Store;

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};

fn sample(name: &str) -> PathBuf {
    paths::workspace_root().join("fixtures/import").join(name)
}

fn importer(store: &Store, dry_run: bool, complete_orders: bool) -> Importer<'_> {
    Importer {
        store,
        limits: LIMITS,
        caller: ServiceCaller {
            client_id: "import-test".to_owned(),
        },
        dry_run,
        planned_scouts: Default::default(),
        complete_orders,
    }
}

async fn import(
    importer: &Importer<'_>,
    state: Option<&Path>,
    kind: Kind,
    file: &Path,
) -> FileReport {
    ImportRun {
        importer,
        state_dir: state.map(Path::to_path_buf),
        restart: false,
        show_progress: false,
    }
    .file(kind, file)
    .await
    .unwrap()
}

fn counts(report: &FileReport) -> (usize, usize, usize, usize) {
    (
        report.created,
        report.updated,
        report.unchanged,
        report.refused.len(),
    )
}

fn no_progress_kept(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut files| files.next().is_none())
}

fn state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("import-test-{}", uuid::Uuid::new_v4().simple()))
}

#[test]
fn csv_cells_and_json_lines_become_the_routes_fields() {
    let scouts = read_records(&sample("scouts.csv")).unwrap();
    assert_eq!(scouts.len(), 3);
    assert_eq!(scouts[0].line, 2);
    assert_eq!(
        serde_json::Value::Object(scouts[1].fields.clone()),
        serde_json::json!({"scout_id": "s-102", "user_id": 32,
            "display_name": "Meena, Bengaluru", "active": true})
    );
    assert_eq!(scouts[2].fields["active"], false);
    let orders = read_records(&sample("orders.jsonl")).unwrap();
    assert_eq!(orders.len(), 4);
    assert_eq!(orders[3].line, 4);
    assert!(read_records(Path::new("orders.txt")).is_err());
}

#[tokio::test]
async fn a_marketplace_imports_once_and_again_changes_nothing() {
    let store = fresh_store().await;
    let importer = importer(&store, false, false);
    let state = state_dir();
    let scouts = import(&importer, Some(&state), Kind::Scouts, &sample("scouts.csv")).await;
    assert_eq!(counts(&scouts), (3, 0, 0, 0), "{scouts:?}");
    let orders = import(
        &importer,
        Some(&state),
        Kind::Orders,
        &sample("orders.jsonl"),
    )
    .await;
    assert_eq!(counts(&orders), (4, 0, 0, 0), "{orders:?}");

    let s101 = store.scout("s-101").await.unwrap().unwrap();
    assert_eq!((s101.user_id, s101.earnings_paise), (31, Paise(125_000)));
    assert_eq!(s101.display_name.as_deref(), Some("Ravi Kumar"));
    assert!(!store.scout("s-103").await.unwrap().unwrap().active);
    let o1003 = store.order("o-1003").await.unwrap().unwrap();
    assert_eq!(o1003.status, OrderStatus::Delivered);
    assert_eq!(o1003.scout_bounty_paise, Some(Paise(2_100)));

    // A finished import keeps no progress: the same files again go through every
    // record, each unchanged, no opening balance credited twice.
    assert!(no_progress_kept(&state));
    let again = import(&importer, Some(&state), Kind::Scouts, &sample("scouts.csv")).await;
    assert_eq!(
        (again.resumed_past, counts(&again)),
        (0, (0, 0, 3, 0)),
        "{again:?}"
    );
    let orders = import(
        &importer,
        Some(&state),
        Kind::Orders,
        &sample("orders.jsonl"),
    )
    .await;
    assert_eq!(counts(&orders), (0, 0, 4, 0), "{orders:?}");
    assert_eq!(
        store.scout("s-101").await.unwrap().unwrap().credited_paise,
        Paise(125_000)
    );
    assert_books_balance(&store, &["s-101", "s-102", "s-103"], &[42, 44]).await;
}

#[tokio::test]
async fn refused_records_are_reported_and_not_stored() {
    let store = fresh_store().await;
    let importer = importer(&store, false, false);
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let scouts = dir.join("scouts.csv");
    std::fs::write(
        &scouts,
        "scout_id,user_id,opening_balance_paise\ns-1,7,1000\ns-2,seven,\ns-3,9,-5\n",
    )
    .unwrap();
    let report = import(&importer, None, Kind::Scouts, &scouts).await;
    assert_eq!(counts(&report), (1, 0, 0, 2), "{report:?}");
    assert_eq!(report.refused[0].line, 3);
    assert!(
        report.refused[0].reason.starts_with("invalid_field"),
        "{report:?}"
    );
    assert!(
        report.refused[1].reason.contains("opening_balance_paise"),
        "{report:?}"
    );
    assert_eq!(store.scout("s-2").await.unwrap(), None);
    assert_eq!(store.scout("s-3").await.unwrap(), None);

    let orders = dir.join("orders.jsonl");
    std::fs::write(
        &orders,
        [
            r#"{"order_id": "o-1", "buyer_id": 9, "seller_id": 8, "item_price_paise": 5000, "status": "placed", "scout_id": "s-9", "scout_bounty_paise": 10}"#,
            r#"{"order_id": "o-2", "buyer_id": 9, "seller_id": 8, "item_price_paise": -5000, "status": "placed"}"#,
            r#"{"order_id": "o-3", "buyer_id": 9, "seller_id": 8, "item_price_paise": 5000, "status": "completed", "scout_id": "s-1", "scout_bounty_paise": 10}"#,
            r#"{"order_id": "o-4", "buyer_id": 9, "seller_id": 8, "item_price_paise": 5000, "status": "placed"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let report = import(&importer, None, Kind::Orders, &orders).await;
    assert_eq!(counts(&report), (1, 0, 0, 3), "{report:?}");
    let reasons: Vec<&str> = report.refused.iter().map(|r| r.reason.as_str()).collect();
    assert!(reasons[0].starts_with("unknown_scout"), "{reasons:?}");
    assert!(reasons[1].starts_with("invalid_field"), "{reasons:?}");
    assert!(reasons[2].contains("--complete-orders"), "{reasons:?}");
    for order in ["o-1", "o-2", "o-3"] {
        assert_eq!(store.order(order).await.unwrap(), None, "{order}");
    }
    assert_eq!(
        store.summary(8).await.unwrap().total,
        0,
        "no seller was paid"
    );

    // Asked for, a completed order is completed: its seller paid, its bounty credited.
    let completing = importer_with_completion(&store);
    let report = import(&completing, None, Kind::Orders, &orders).await;
    assert_eq!((report.created, report.unchanged), (1, 1), "{report:?}");
    assert_eq!(
        store.order("o-3").await.unwrap().unwrap().status,
        OrderStatus::Completed
    );
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().earnings_paise,
        Paise(1_010)
    );
    assert_books_balance(&store, &["s-1"], &[8]).await;
}

fn importer_with_completion(store: &Store) -> Importer<'_> {
    importer(store, false, true)
}

#[tokio::test]
async fn a_dry_run_checks_everything_and_writes_nothing() {
    let store = fresh_store().await;
    let importer = importer(&store, true, false);
    let scouts = import(&importer, None, Kind::Scouts, &sample("scouts.csv")).await;
    assert_eq!(counts(&scouts), (3, 0, 0, 0));
    // The orders may name the scouts the same run would create.
    let orders = import(&importer, None, Kind::Orders, &sample("orders.jsonl")).await;
    assert_eq!(counts(&orders), (4, 0, 0, 0), "{orders:?}");
    for scout in ["s-101", "s-102", "s-103"] {
        assert_eq!(store.scout(scout).await.unwrap(), None);
    }
    assert_eq!(store.order("o-1001").await.unwrap(), None);

    // Against what is stored: unchanged, and what would change.
    let writing = self::importer(&store, false, false);
    import(&writing, None, Kind::Scouts, &sample("scouts.csv")).await;
    let checked = self::importer(&store, true, false);
    let scouts = import(&checked, None, Kind::Scouts, &sample("scouts.csv")).await;
    assert_eq!(counts(&scouts), (0, 0, 3, 0), "{scouts:?}");
}

/// A run cut short left its progress: the next one carries on after the records
/// done, and skips them.
#[tokio::test]
async fn an_import_carries_on_from_its_progress_file() {
    let store = fresh_store().await;
    let importer = importer(&store, false, false);
    let state = state_dir();
    let file = sample("scouts.csv");
    let run = ImportRun {
        importer: &importer,
        state_dir: Some(state.clone()),
        restart: false,
        show_progress: false,
    };
    let progress = run.progress_file(Kind::Scouts, &file).unwrap().unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(&progress, r#"{"done": 2}"#).unwrap();
    let report = run.file(Kind::Scouts, &file).await.unwrap();
    assert_eq!((report.resumed_past, counts(&report)), (2, (1, 0, 0, 0)));
    assert_eq!(
        store.scout("s-101").await.unwrap(),
        None,
        "done before: skipped"
    );
    assert!(store.scout("s-103").await.unwrap().is_some());
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "done: no progress kept"
    );
}

/// What a run refused before it failed is gone through again when it carries on:
/// corrected meanwhile (its scout imported), it is written.
#[tokio::test]
async fn a_resumed_import_tries_again_what_it_refused() {
    let store = fresh_store().await;
    let importer = importer(&store, false, false);
    let state = state_dir();
    let file = sample("orders.jsonl");
    let run = ImportRun {
        importer: &importer,
        state_dir: Some(state.clone()),
        restart: false,
        show_progress: false,
    };
    // An earlier run went through the first three orders, refused the first (its
    // scout missing) and the third, and stopped.
    let progress = run.progress_file(Kind::Orders, &file).unwrap().unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(&progress, r#"{"done": 3, "refused": [0, 2]}"#).unwrap();
    import(&importer, None, Kind::Scouts, &sample("scouts.csv")).await;
    let report = run.file(Kind::Orders, &file).await.unwrap();
    assert_eq!(
        (report.resumed_past, counts(&report)),
        (1, (3, 0, 0, 0)),
        "{report:?}"
    );
    assert!(store.order("o-1001").await.unwrap().is_some());
    assert!(
        store.order("o-1002").await.unwrap().is_none(),
        "done before: skipped"
    );
    assert!(store.order("o-1003").await.unwrap().is_some());
    assert!(store.order("o-1004").await.unwrap().is_some());
}

/// A scout the marketplace deactivated stays so when an import without the column is
/// run again, and another opening balance than the one credited is refused before
/// anything of its row is written.
#[tokio::test]
async fn an_import_again_keeps_what_it_does_not_say_and_refuses_a_new_balance_whole() {
    let store = fresh_store().await;
    let importer = importer(&store, false, false);
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let first = dir.join("first.csv");
    std::fs::write(
        &first,
        "scout_id,user_id,opening_balance_paise\ns-1,7,1000\n",
    )
    .unwrap();
    assert_eq!(
        counts(&import(&importer, None, Kind::Scouts, &first).await),
        (1, 0, 0, 0)
    );
    assert!(store
        .update_scout_profile(store::ScoutProfileUpdate {
            scout_id: "s-1",
            owner: 7,
            display_name: None,
            active: false,
            as_of: None,
        })
        .await
        .unwrap());
    assert_eq!(
        counts(&import(&importer, None, Kind::Scouts, &first).await),
        (0, 0, 1, 0)
    );
    assert!(!store.scout("s-1").await.unwrap().unwrap().active);

    let other = dir.join("other.csv");
    std::fs::write(
        &other,
        "scout_id,user_id,display_name,opening_balance_paise\ns-1,7,Asha,2000\n",
    )
    .unwrap();
    let report = import(&importer, None, Kind::Scouts, &other).await;
    assert_eq!(counts(&report), (0, 0, 0, 1), "{report:?}");
    assert!(report.refused[0]
        .reason
        .starts_with("idempotency_key_reused"));
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        scout.display_name, None,
        "nothing of the refused row written"
    );
    assert_eq!(scout.credited_paise, Paise(1_000));
}
