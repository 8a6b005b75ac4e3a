//! `amqtt_user_mgr`: aMQTT's `user_mgr` — list, add and remove the clients of the `auth_db`
//! plugins' `user_auth` table and change their passwords (see `amqtt_bin::auth_db_cli`).

fn main() -> std::process::ExitCode {
    amqtt_bin::auth_db_cli::user_mgr_main()
}
