use clap::{Parser, Subcommand};
use payment_center::config::{redact_url, Settings};
use payment_center::core::{legacy_logins, merchants};
use payment_center::startup::{self, Application, SandboxServer};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "payment-center",
    version,
    about = "A payment center between shops and WeChat Pay and Alipay"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default); migrates the database first.
    #[command(after_help = payment_center::config::variables_help())]
    Serve,
    /// Run only the simulated channels (WeChat Pay v2 at /sandbox/wechat, Alipay at
    /// /sandbox/alipay/gateway.do) on BIND_ADDR; `sandbox keys` prints their credentials.
    Sandbox {
        #[command(subcommand)]
        command: Option<SandboxCommand>,
    },
    /// Manage merchants.
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Print, as one JSON object, the credentials a client needs to talk to the sandboxes
    /// (fixed test keys shipped with the project; never used in live mode).
    Keys,
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Register a merchant and print its credentials, once, as JSON.
    Add {
        /// The merchant's name, shown on the cashier page (1–128 characters).
        #[arg(long)]
        name: String,
        /// A URL prefix that the merchant's return URLs must start with (repeatable).
        #[arg(long = "return-url-prefix", required = true)]
        return_url_prefix: Vec<String>,
    },
    /// Print every merchant as JSON (ids, names, prefixes; never a key or a secret).
    List,
    /// Issue a new API key and print it once; the old key stops working.
    RotateKey {
        #[arg(long = "merchant-id")]
        merchant_id: String,
    },
    /// Issue a new notify secret (webhook signing key) and print it once.
    RotateNotifySecret {
        #[arg(long = "merchant-id")]
        merchant_id: String,
    },
    /// Set the login the foodie-dev course sends in its imoocUserId / password headers (it
    /// opens the course's endpoints only; its browser pages send it too, so it is public).
    LegacyLogin {
        #[arg(long = "merchant-id")]
        merchant_id: String,
        /// What the course sends as imoocUserId.
        #[arg(long = "user-id")]
        user_id: String,
        /// What the course sends as password (8–128 characters; not the API key).
        #[arg(long)]
        password: String,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    dotenvy::dotenv().ok();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let serving = matches!(cli.command, None | Some(Command::Serve));
    let settings = if serving {
        Settings::from_env()
    } else {
        Settings::from_env_for_tools()
    };
    let settings = match settings {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Sandbox {
            command: Some(SandboxCommand::Keys),
        } => {
            println!("{}", startup::sandbox_keys_json());
            Ok(())
        }
        Command::Sandbox { command: None } => sandbox(settings).await,
        Command::Merchant { command } => merchant(&settings, command),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("payment-center: {e}");
    ExitCode::FAILURE
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

async fn serve(settings: Settings) -> CliResult {
    log::info!("starting with {settings:?}");
    let app = Application::build(settings).await?;
    log::info!("listening; public base URL {}", app.public_base_url());
    if let Some(demo) = &app.demo_merchant {
        println!("{}", merchants::demo_banner(demo, app.public_base_url()));
    }
    app.run_until_stopped().await?;
    Ok(())
}

async fn sandbox(settings: Settings) -> CliResult {
    let server = SandboxServer::build(&settings)?;
    log::info!(
        "sandboxes on port {port}: WeChat Pay v2 at http://127.0.0.1:{port}{}, Alipay at \
         http://127.0.0.1:{port}{}/gateway.do (keys: payment-center sandbox keys)",
        payment_center::channel::wechat::sandbox::MOUNT,
        payment_center::channel::alipay::sandbox::MOUNT,
        port = server.port(),
    );
    server.run_until_stopped().await?;
    Ok(())
}

fn merchant(settings: &Settings, command: MerchantCommand) -> CliResult {
    let pool = startup::open_database(settings)?;
    let mut conn = pool.get()?;
    let database = redact_url(&settings.database_url);
    match command {
        MerchantCommand::Add {
            name,
            return_url_prefix,
        } => {
            let issued = merchants::create(&mut conn, &name, &return_url_prefix)?;
            eprintln!(
                "merchant {} written to {database}",
                issued.merchant_id.as_str()
            );
            println!("{}", issued.to_json());
        }
        MerchantCommand::List => {
            let list = merchants::list(&mut conn)?;
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        MerchantCommand::RotateKey { merchant_id } => {
            let key = merchants::rotate_key(&mut conn, &merchant_id)?;
            eprintln!("the old API key of {merchant_id} no longer works ({database})");
            println!(
                "{}",
                serde_json::json!({"merchant_id": merchant_id, "api_key": key.expose()})
            );
        }
        MerchantCommand::LegacyLogin {
            merchant_id,
            user_id,
            password,
        } => {
            legacy_logins::set(&mut conn, &merchant_id, &user_id, &password)?;
            eprintln!("the course login of {merchant_id} is set ({database})");
            println!(
                "{}",
                serde_json::json!({"merchant_id": merchant_id, "user_id": user_id})
            );
        }
        MerchantCommand::RotateNotifySecret { merchant_id } => {
            let secret = merchants::rotate_notify_secret(&mut conn, &merchant_id)?;
            eprintln!(
                "webhooks of {merchant_id} are signed with the new secret from now on ({database})"
            );
            println!(
                "{}",
                serde_json::json!({"merchant_id": merchant_id, "notify_secret": secret.expose()})
            );
        }
    }
    Ok(())
}
