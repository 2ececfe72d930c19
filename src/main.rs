use clap::{Parser, Subcommand};
use payment_center::config::Settings;
use payment_center::core::merchants;
use payment_center::startup::{self, Application, SandboxServer};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "payment-center",
    version,
    about = "A payment center between shops and WeChat Pay v2"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default); migrates the database first.
    Serve,
    /// Run only the simulated WeChat Pay v2 API, at /sandbox/wechat on BIND_ADDR.
    Sandbox,
    /// Manage merchants.
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Register a merchant and print its credentials, once, as JSON.
    Add {
        #[arg(long)]
        name: String,
        /// A URL prefix that the merchant's return URLs must start with (repeatable).
        #[arg(long = "return-url-prefix", required = true)]
        return_url_prefix: Vec<String>,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    dotenvy::dotenv().ok();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Sandbox => sandbox(settings).await,
        Command::Merchant {
            command:
                MerchantCommand::Add {
                    name,
                    return_url_prefix,
                },
        } => add_merchant(&settings, &name, &return_url_prefix),
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
        "WeChat Pay v2 sandbox on port {}: point a client at http://127.0.0.1:{}{}",
        server.port(),
        server.port(),
        payment_center::sandbox::MOUNT
    );
    server.run_until_stopped().await?;
    Ok(())
}

fn add_merchant(settings: &Settings, name: &str, prefixes: &[String]) -> CliResult {
    let pool = startup::open_database(settings)?;
    let mut conn = pool.get()?;
    let issued = merchants::create(&mut conn, name, prefixes)?;
    println!("{}", issued.to_json());
    Ok(())
}
