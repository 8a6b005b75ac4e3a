//! `amqtt_topic_mgr`: aMQTT's `topic_mgr` — the topics each client of the `auth_db` plugins may
//! publish, subscribe or receive, in the `topic_auth` table (see `amqtt_bin::auth_db_cli`).

fn main() -> std::process::ExitCode {
    amqtt_bin::auth_db_cli::topic_mgr_main()
}
