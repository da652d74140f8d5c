//! `scripts/bench-lambda`: each function binary (`auth`, `verify`, `tenants`) run as
//! Lambda runs it — a process polling a Runtime API (the tests' own, in
//! `tests/support/runtime_api.rs`) that hands it API Gateway events — against moto,
//! beside two baselines built with the same profile (`bench/hello`): `hello-bare`
//! (`lambda_http` + axum) and `hello-sdk` (the same, plus the init round trips our
//! functions make, a bare `GetItem` route and the cryptography of one login).
//!
//! For each binary it measures cold starts (init: from `exec` to the first poll of
//! `/runtime/invocation/next`, wall and CPU; the first request, wall and CPU) and warm
//! calls per route (median and p99 wall, CPU per call, peak RSS). CPU is the process's
//! CPU-time clock (all threads, nanoseconds) read by the Runtime API at each poll, so
//! an invocation's CPU is everything the process did between handing in one answer and
//! asking for the next event. It prints one table and the ratios to the baselines.
//!
//! `--smoke` runs two cold starts and a few calls per route, to show that it runs; its
//! figures mean nothing (the test command runs it on debug builds).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pers::keys::{KeyMaterial, SigningAlgorithm};
use pers_tests::fault::Throttler;
use pers_tests::runtime_api::{self, Answer, Function};
use pers_tests::{Moto, PLATFORM_KEY, TestIssuer};
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.bench.example";
const AUDIENCE: &str = "bench-app";
/// Generous: figures come from answers, never from this.
const WITHIN: Duration = Duration::from_secs(60);

struct Options {
    bin_dir: PathBuf,
    cold: usize,
    warm: usize,
    json: Option<PathBuf>,
    reconnect: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        bin_dir: PathBuf::from("target/release"),
        cold: 15,
        warm: 500,
        json: None,
        reconnect: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--smoke" => {
                options.cold = 2;
                options.warm = 5;
            }
            "--reconnect" => options.reconnect = true,
            "--bin-dir" => options.bin_dir = value("--bin-dir")?.into(),
            "--cold" => options.cold = number(&value("--cold")?)?,
            "--warm" => options.warm = number(&value("--warm")?)?,
            "--json" => options.json = Some(value("--json")?.into()),
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: bench-lambda [--smoke] \
                     [--bin-dir DIR] [--cold N] [--warm N] [--json FILE] [--reconnect]"
                ));
            }
        }
    }
    Ok(options)
}

fn number(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text} is not a positive number")),
    }
}

/// The routes measured, each an API Gateway event built from `events/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Login,
    Refresh,
    Verify,
    VerifyRevoked,
    Jwks,
    TenantGet,
    TenantPut,
    TenantCreate,
    Hello,
    Get,
    Crypto,
}

impl Route {
    fn label(self) -> &'static str {
        match self {
            Self::Login => "POST /auth/token",
            Self::Refresh => "POST /auth/refresh",
            Self::Verify => "POST /auth/verify",
            Self::VerifyRevoked => "POST /auth/verify checkRevoked",
            Self::Jwks => "GET /.well-known/jwks.json",
            Self::TenantGet => "GET /tenants/{id}",
            Self::TenantPut => "PUT /tenants",
            Self::TenantCreate => "POST /tenants",
            Self::Hello => "GET /hello",
            Self::Get => "GET /get (one GetItem)",
            Self::Crypto => "GET /crypto (RS256 + HS256 sign, ES256 verify)",
        }
    }

    fn status(self) -> u16 {
        match self {
            Self::Login | Self::Refresh | Self::TenantCreate => 201,
            _ => 200,
        }
    }
}

/// A binary measured: its routes, the first of which is its cold starts' first request.
struct Subject {
    name: &'static str,
    routes: &'static [Route],
}

const SUBJECTS: [Subject; 5] = [
    Subject {
        name: "auth",
        routes: &[Route::Login, Route::Refresh],
    },
    Subject {
        name: "verify",
        routes: &[Route::Verify, Route::VerifyRevoked, Route::Jwks],
    },
    Subject {
        name: "tenants",
        routes: &[Route::TenantCreate, Route::TenantGet, Route::TenantPut],
    },
    Subject {
        name: "hello-bare",
        routes: &[Route::Hello],
    },
    Subject {
        name: "hello-sdk",
        routes: &[Route::Get, Route::Hello, Route::Crypto],
    },
];

/// The deployment under test: moto with the template's table and secrets, one tenant
/// with an identity provider, and the tokens the routes need.
struct World {
    _moto: Moto,
    _relay: Throttler,
    env: Vec<(&'static str, String)>,
    tenant_id: String,
    project_key: String,
    admin: String,
    idp: TestIssuer,
    access: String,
    refresh: String,
    serial: usize,
}

impl World {
    async fn new(bin_dir: &std::path::Path, reconnect: bool) -> Result<Self, String> {
        let moto = Moto::start().await;
        // moto's server closes the connection after every answer; DynamoDB and Secrets
        // Manager keep theirs open and the SDK reuses them. A keep-alive relay in front
        // of moto makes the functions' connections last as they do in AWS (unless
        // `--reconnect`), so that a call's CPU is not mostly a new connection's.
        let relay = Throttler::start(&moto.endpoint).await;
        let endpoint = if reconnect {
            moto.endpoint.clone()
        } else {
            relay.endpoint()
        };
        let key = KeyMaterial::generate(SigningAlgorithm::Rs256).map_err(|e| e.to_string())?;
        let resources = moto
            .template_resources(Some(key.to_json().to_string()))
            .await;
        let env = vec![
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("TABLE_NAME", resources.table.clone()),
            ("SIGNING_KEY_SECRET_ID", resources.signing.clone()),
            ("PLATFORM_SECRET_ID", resources.platform.clone()),
            ("PERS_ISSUER", ISSUER.into()),
            ("PERS_SIGNING_ALGORITHM", "RS256".into()),
            ("PERS_KEY_ACTIVATION_DELAY_SECONDS", "0".into()),
            ("RUST_LOG", "warn".into()),
        ];
        let mut world = Self {
            _moto: moto,
            _relay: relay,
            env,
            tenant_id: String::new(),
            project_key: String::new(),
            admin: String::new(),
            idp: TestIssuer::new("https://idp.bench.example", SigningAlgorithm::Es256),
            access: String::new(),
            refresh: String::new(),
            serial: 0,
        };
        let tenants = world.start(bin_dir, "tenants").await?;
        let created = world.call(&tenants, Route::TenantCreate).await?;
        world.tenant_id = text(&created.json, "id")?;
        world.project_key = text(&created.json, "projectApiKey")?;
        world.admin = text(&created.json, "jwt")?;
        let provider = json!({"identityProviders": [{
            "issuer": world.idp.issuer, "jwks": world.idp.jwks(),
            "audience": AUDIENCE, "authTypes": ["user"],
        }]});
        let event = runtime_api::event(
            "tenants-update",
            &[("authorization", &format!("Bearer {}", world.admin))],
            Some(&provider),
        );
        expect(&tenants.invoke(event, WITHIN).await, 200, "PUT /tenants")?;
        let auth = world.start(bin_dir, "auth").await?;
        let login = world.call(&auth, Route::Login).await?;
        world.access = text(&login.json, "accessToken")?;
        Ok(world)
    }

    async fn start(&self, bin_dir: &std::path::Path, name: &str) -> Result<Function, String> {
        let binary = bin_dir.join(name);
        if !binary.exists() {
            return Err(format!("{} is missing: build it first", binary.display()));
        }
        let mut env = self.env.clone();
        env.push(("HELLO_ITEM_PK", format!("TENANT#{}", self.tenant_id)));
        env.push(("HELLO_ITEM_SK", "TENANT".into()));
        Ok(Function::start(&binary, &env).await)
    }

    fn event(&mut self, route: Route) -> Value {
        self.serial += 1;
        let pk = self.project_key.clone();
        let with_pk = [("x-project-key", pk.as_str())];
        match route {
            Route::Login => {
                let token = self.idp.token(&self.idp.claims("alice", AUDIENCE));
                runtime_api::event(
                    "auth-token",
                    &with_pk,
                    Some(&json!({"authToken": token, "authType": "user"})),
                )
            }
            Route::Refresh => runtime_api::event(
                "auth-refresh",
                &with_pk,
                Some(&json!({"refreshToken": self.refresh})),
            ),
            Route::Verify | Route::VerifyRevoked => runtime_api::event(
                "auth-verify",
                &with_pk,
                Some(&json!({
                    "authToken": self.access,
                    "checkRevoked": route == Route::VerifyRevoked,
                })),
            ),
            Route::Jwks => runtime_api::event("well-known-jwks", &[], None),
            Route::TenantGet => {
                let mut event = runtime_api::event("tenants-get-by-id", &with_pk, None);
                let path = format!("/tenants/{}", self.tenant_id);
                event["rawPath"] = json!(path);
                event["requestContext"]["http"]["path"] = json!(path);
                event["pathParameters"] = json!({"id": self.tenant_id});
                event
            }
            Route::TenantPut => runtime_api::event(
                "tenants-update",
                &[("authorization", &format!("Bearer {}", self.admin))],
                Some(&json!({"projectDescription": format!("Update {}", self.serial)})),
            ),
            Route::TenantCreate => runtime_api::event(
                "tenants-create",
                &[("x-api-key", PLATFORM_KEY)],
                Some(&json!({"projectName": format!("Bench {}", self.serial)})),
            ),
            Route::Hello | Route::Get | Route::Crypto => {
                let path = match route {
                    Route::Hello => "/hello",
                    Route::Get => "/get",
                    _ => "/crypto",
                };
                let mut event = runtime_api::event("well-known-jwks", &[], None);
                event["routeKey"] = json!(format!("GET {path}"));
                event["requestContext"]["routeKey"] = json!(format!("GET {path}"));
                event["rawPath"] = json!(path);
                event["requestContext"]["http"]["path"] = json!(path);
                event
            }
        }
    }

    /// One invocation of `route`, checked, keeping what the next ones need.
    async fn call(&mut self, function: &Function, route: Route) -> Result<Answer, String> {
        let event = self.event(route);
        let answer = function.invoke(event, WITHIN).await;
        expect(&answer, route.status(), route.label())?;
        if matches!(route, Route::Login | Route::Refresh) {
            self.refresh = text(&answer.json, "refreshToken")?;
        }
        if matches!(route, Route::Verify | Route::VerifyRevoked) && answer.json["valid"] != true {
            return Err(format!("{}: not valid: {}", route.label(), answer.json));
        }
        Ok(answer)
    }
}

fn text(json: &Value, field: &str) -> Result<String, String> {
    json[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {field} in {json}"))
}

fn expect(answer: &Answer, status: u16, what: &str) -> Result<(), String> {
    if answer.status == status {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} instead of {status}: {}",
            answer.status, answer.json
        ))
    }
}

/// The figures of one cold start.
struct Cold {
    init: Duration,
    init_cpu: Duration,
    first: Duration,
    first_cpu: Duration,
}

/// The figures of one route, warm.
struct Warm {
    route: Route,
    median: Duration,
    p99: Duration,
    cpu: Duration,
}

struct Figures {
    name: &'static str,
    cold: Vec<Cold>,
    warm: Vec<Warm>,
    peak_rss: u64,
}

async fn cold_start(
    world: &mut World,
    bin_dir: &std::path::Path,
    subject: &Subject,
) -> Result<Cold, String> {
    let function = world.start(bin_dir, subject.name).await?;
    let ready = function
        .polls(1, WITHIN)
        .await
        .ok_or(format!("{}: init did not end", subject.name))?;
    let answer = world.call(&function, subject.routes[0]).await?;
    let polls = function
        .polls(2, WITHIN)
        .await
        .ok_or(format!("{}: no poll after the first request", subject.name))?;
    Ok(Cold {
        init: ready[0].at.duration_since(function.started()),
        init_cpu: ready[0].cpu,
        first: answer.took,
        first_cpu: polls[1].cpu.saturating_sub(polls[0].cpu),
    })
}

async fn warm(
    world: &mut World,
    bin_dir: &std::path::Path,
    subject: &Subject,
    calls: usize,
) -> Result<(Vec<Warm>, u64), String> {
    let function = world.start(bin_dir, subject.name).await?;
    let mut figures = Vec::new();
    // Poll `n` (from 0) follows the function's `n`th answer; poll 0 ends init.
    let mut answered = 0;
    for &route in subject.routes {
        // Each tenant is a transaction, and moto copies its whole table for every one
        // (to roll back): a hundred of them slow moto down until an attempt times out
        // and the retry of a transaction that did commit is refused (409).
        let calls = match route {
            Route::TenantCreate => calls.min(30),
            _ => calls,
        };
        for _ in 0..calls.min(5) {
            world.call(&function, route).await?;
            answered += 1;
        }
        let from = answered;
        let mut took = Vec::with_capacity(calls);
        for _ in 0..calls {
            took.push(world.call(&function, route).await?.took);
            answered += 1;
        }
        let polls = function
            .polls(answered + 1, WITHIN)
            .await
            .ok_or(format!("{}: polls missing", subject.name))?;
        let cpu = polls[answered].cpu.saturating_sub(polls[from].cpu);
        took.sort();
        figures.push(Warm {
            route,
            median: took[took.len() / 2],
            p99: took[(took.len() * 99 / 100).min(took.len() - 1)],
            cpu: cpu / calls as u32,
        });
    }
    Ok((figures, function.peak_rss().unwrap_or(0)))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

async fn run(options: &Options) -> Result<Vec<Figures>, String> {
    let mut world = World::new(&options.bin_dir, options.reconnect).await?;
    let mut all = Vec::new();
    // Cold starts alternate between the binaries, so that a slow spell of the machine
    // spreads over all of them instead of landing on one.
    let mut colds: Vec<Vec<Cold>> = SUBJECTS.iter().map(|_| Vec::new()).collect();
    for _ in 0..options.cold {
        for (i, subject) in SUBJECTS.iter().enumerate() {
            colds[i].push(cold_start(&mut world, &options.bin_dir, subject).await?);
        }
    }
    for (subject, cold) in SUBJECTS.iter().zip(colds) {
        let (warm, peak_rss) = warm(&mut world, &options.bin_dir, subject, options.warm).await?;
        all.push(Figures {
            name: subject.name,
            cold,
            warm,
            peak_rss,
        });
    }
    Ok(all)
}

fn find<'a>(all: &'a [Figures], name: &str) -> &'a Figures {
    all.iter()
        .find(|f| f.name == name)
        .expect("every subject is measured")
}

fn warm_cpu(all: &[Figures], name: &str, route: Route) -> Duration {
    find(all, name)
        .warm
        .iter()
        .find(|w| w.route == route)
        .map_or(Duration::ZERO, |w| w.cpu)
}

fn report(all: &[Figures], options: &Options) -> Value {
    println!(
        "\nbench-lambda: {} cold starts and {} warm calls per route, binaries from {}, {}\n",
        options.cold,
        options.warm,
        options.bin_dir.display(),
        if options.reconnect {
            "a new connection per AWS call (moto direct)"
        } else {
            "AWS connections kept alive (relay in front of moto)"
        }
    );
    println!("| binary | init median | init CPU | first request | first-request CPU | peak RSS |");
    println!("|---|---|---|---|---|---|");
    let mut json_rows = Vec::new();
    for f in all {
        let init = median(f.cold.iter().map(|c| c.init).collect());
        let init_cpu = median(f.cold.iter().map(|c| c.init_cpu).collect());
        let first = median(f.cold.iter().map(|c| c.first).collect());
        let first_cpu = median(f.cold.iter().map(|c| c.first_cpu).collect());
        println!(
            "| {} | {} | {} | {} | {} | {:.1} MB |",
            f.name,
            ms(init),
            ms(init_cpu),
            ms(first),
            ms(first_cpu),
            f.peak_rss as f64 / 1e6
        );
        json_rows.push(json!({
            "binary": f.name, "init_ms": init.as_secs_f64() * 1e3,
            "init_cpu_ms": init_cpu.as_secs_f64() * 1e3, "first_ms": first.as_secs_f64() * 1e3,
            "first_cpu_ms": first_cpu.as_secs_f64() * 1e3, "peak_rss_bytes": f.peak_rss,
            "warm": f.warm.iter().map(|w| json!({
                "route": w.route.label(), "median_ms": w.median.as_secs_f64() * 1e3,
                "p99_ms": w.p99.as_secs_f64() * 1e3, "cpu_ms": w.cpu.as_secs_f64() * 1e3,
            })).collect::<Vec<_>>(),
        }));
    }
    println!("\n| binary | route (warm) | median | p99 | CPU per call |");
    println!("|---|---|---|---|---|");
    for f in all {
        for w in &f.warm {
            println!(
                "| {} | {} | {} | {} | {} |",
                f.name,
                w.route.label(),
                ms(w.median),
                ms(w.p99),
                ms(w.cpu)
            );
        }
    }

    let sdk = find(all, "hello-sdk");
    let sdk_init = median(sdk.cold.iter().map(|c| c.init).collect());
    let hello = warm_cpu(all, "hello-sdk", Route::Hello);
    let get = warm_cpu(all, "hello-sdk", Route::Get);
    let crypto = warm_cpu(all, "hello-sdk", Route::Crypto);
    let one_call = get.saturating_sub(hello);
    let mut ratios = Vec::new();
    let mut line = |goal: &str, value: f64, limit: f64| {
        let verdict = if value <= limit { "met" } else { "NOT met" };
        println!("| {goal} | {value:.2}× | ≤ {limit}× | {verdict} |");
        ratios.push(json!({"goal": goal, "ratio": value, "limit": limit}));
    };
    println!("\n| ratio | value | goal | |");
    println!("|---|---|---|---|");
    for name in ["auth", "verify", "tenants"] {
        let f = find(all, name);
        let init = median(f.cold.iter().map(|c| c.init).collect());
        line(
            &format!("{name}: init / hello-sdk init"),
            ratio(init, sdk_init),
            1.5,
        );
    }
    for name in ["auth", "verify", "tenants"] {
        let f = find(all, name);
        let first_cpu = median(f.cold.iter().map(|c| c.first_cpu).collect());
        let route = SUBJECTS
            .iter()
            .find(|s| s.name == name)
            .expect("subject")
            .routes[0];
        line(
            &format!("{name}: first-request CPU / warm CPU ({})", route.label()),
            ratio(first_cpu, warm_cpu(all, name, route)),
            2.0,
        );
    }
    // A cold function's first verify must also resolve its project key (one GetItem
    // into an empty cache), which a warm one finds cached: the like-for-like ratio.
    let verify = find(all, "verify");
    line(
        "verify: first-request CPU / (warm CPU + the project-key GetItem it must make)",
        ratio(
            median(verify.cold.iter().map(|c| c.first_cpu).collect()),
            warm_cpu(all, "verify", Route::Verify) + one_call,
        ),
        2.0,
    );
    line(
        "GET /tenants/{id} CPU / hello-sdk GET /get CPU (one GetItem each)",
        ratio(warm_cpu(all, "tenants", Route::TenantGet), get),
        1.3,
    );
    let revoked = warm_cpu(all, "verify", Route::VerifyRevoked).saturating_sub(warm_cpu(
        all,
        "verify",
        Route::Verify,
    ));
    line(
        "checkRevoked's GetItem / the baseline's GetItem (CPU above each route without it)",
        ratio(revoked, one_call),
        1.3,
    );
    // The README's call budgets: a warm login makes 2 DynamoDB calls, a refresh 1.
    line(
        "POST /auth/token CPU / (crypto + 2 GetItems at the baseline's cost)",
        ratio(warm_cpu(all, "auth", Route::Login), crypto + one_call * 2),
        1.5,
    );
    line(
        "POST /auth/refresh CPU / (crypto + 1 GetItem at the baseline's cost)",
        ratio(warm_cpu(all, "auth", Route::Refresh), crypto + one_call),
        1.5,
    );
    for f in all {
        println!(
            "{}: peak RSS {:.1} MB (goal ≤ 20 MB)",
            f.name,
            f.peak_rss as f64 / 1e6
        );
    }
    json!({"cold": options.cold, "warm": options.warm, "binaries": json_rows, "ratios": ratios})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bench-lambda: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(all) => {
            let json = report(&all, &options);
            if let Some(path) = &options.json
                && let Err(e) = std::fs::write(path, format!("{json:#}\n"))
            {
                eprintln!("bench-lambda: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-lambda: {e}");
            ExitCode::FAILURE
        }
    }
}
