//! The directive table: every directive OpenClaw knows, where it may appear and how many
//! arguments it takes (nginx's `ngx_command_t` in data form).

/// A configuration context, as a bit.
pub type Ctx = u16;
pub const MAIN: Ctx = 1;
pub const EVENTS: Ctx = 1 << 1;
pub const HTTP: Ctx = 1 << 2;
pub const SERVER: Ctx = 1 << 3;
pub const LOCATION: Ctx = 1 << 4;
/// Inside `if` at server level.
pub const SIF: Ctx = 1 << 5;
/// Inside `if` at location level.
pub const LIF: Ctx = 1 << 6;
/// Blocks whose contents are data, not directives (`map`, `types`, `split_clients`).
pub const DATA: Ctx = 1 << 7;
/// Inside `upstream`.
pub const UPSTREAM: Ctx = 1 << 8;
/// Inside `acme_issuer`.
pub const ACME: Ctx = 1 << 9;

const HSL: Ctx = HTTP | SERVER | LOCATION;
const ANY: Ctx = MAIN | EVENTS | HSL | SIF | LIF | DATA | UPSTREAM | ACME;
const MANY: usize = usize::MAX;

/// One row of the table.
pub struct Spec {
    pub name: &'static str,
    pub ctx: Ctx,
    pub min: usize,
    pub max: usize,
    /// Takes a `{ ... }` block (and must have one).
    pub block: bool,
    /// An `on|off` flag.
    pub flag: bool,
    /// The context its block opens, if any.
    pub inner: Ctx,
}

const fn d(name: &'static str, ctx: Ctx, min: usize, max: usize) -> Spec {
    Spec {
        name,
        ctx,
        min,
        max,
        block: false,
        flag: false,
        inner: 0,
    }
}

const fn flag(name: &'static str, ctx: Ctx) -> Spec {
    Spec {
        name,
        ctx,
        min: 1,
        max: 1,
        block: false,
        flag: true,
        inner: 0,
    }
}

const fn block(name: &'static str, ctx: Ctx, min: usize, max: usize, inner: Ctx) -> Spec {
    Spec {
        name,
        ctx,
        min,
        max,
        block: true,
        flag: false,
        inner,
    }
}

/// The table. Keep rows grouped by the subsystem that implements them.
pub static TABLE: &[Spec] = &[
    // core (main)
    d("worker_processes", MAIN, 1, 1),
    flag("daemon", MAIN),
    flag("master_process", MAIN),
    d("pid", MAIN, 1, 1),
    d("error_log", MAIN | HSL, 1, 2),
    d("env", MAIN, 1, 1),
    d("include", ANY, 1, 1),
    block("events", MAIN, 0, 0, EVENTS),
    d("worker_connections", EVENTS, 1, 1),
    // http core
    block("http", MAIN, 0, 0, HTTP),
    block("server", HTTP, 0, 0, SERVER),
    d("listen", SERVER, 1, MANY),
    d("server_name", SERVER, 1, MANY),
    block("location", SERVER | LOCATION, 1, 2, LOCATION),
    d("root", HSL | LIF, 1, 1),
    d("alias", LOCATION, 1, 1),
    d("index", HSL, 1, MANY),
    d("try_files", SERVER | LOCATION, 2, MANY),
    block("types", HSL, 0, 0, DATA),
    d("default_type", HSL, 1, 1),
    d("error_page", HSL | LIF, 2, MANY),
    flag("recursive_error_pages", HSL),
    d("internal", LOCATION, 0, 0),
    d("keepalive_timeout", HSL | UPSTREAM, 1, 2),
    d("keepalive_requests", HSL | UPSTREAM, 1, 1),
    d("client_max_body_size", HSL, 1, 1),
    d("client_header_timeout", HTTP | SERVER, 1, 1),
    d("client_body_timeout", HSL, 1, 1),
    d("send_timeout", HSL, 1, 1),
    d("large_client_header_buffers", HTTP | SERVER, 2, 2),
    d("server_tokens", HSL, 1, 1),
    flag("absolute_redirect", HSL),
    flag("port_in_redirect", HSL),
    flag("server_name_in_redirect", HSL),
    flag("merge_slashes", HTTP | SERVER),
    flag("log_not_found", HSL),
    flag("etag", HSL),
    flag("static_file_cache", HSL),
    d("if_modified_since", HSL, 1, 1),
    // rewrite module
    d("rewrite", SERVER | LOCATION | SIF | LIF, 2, 3),
    d("return", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set", SERVER | LOCATION | SIF | LIF, 2, 2),
    d("set_unescape_uri", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_escape_uri", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_quote_sql_str", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_quote_pgsql_str", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_quote_json_str", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_md5", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_sha1", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_encode_base64", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_decode_base64", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_encode_hex", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_decode_hex", SERVER | LOCATION | SIF | LIF, 1, 2),
    d("set_if_empty", SERVER | LOCATION | SIF | LIF, 2, 2),
    d("set_random", SERVER | LOCATION | SIF | LIF, 3, 3),
    d(
        "set_secure_random_alphanum",
        SERVER | LOCATION | SIF | LIF,
        2,
        2,
    ),
    d(
        "set_secure_random_lcalpha",
        SERVER | LOCATION | SIF | LIF,
        2,
        2,
    ),
    d("break", SERVER | LOCATION | SIF | LIF, 0, 0),
    block("if", SERVER | LOCATION, 1, MANY, 0),
    flag("rewrite_log", HSL | SIF | LIF),
    flag("uninitialized_variable_warn", HSL | SIF | LIF),
    // map, split_clients
    block("map", HTTP, 2, 2, DATA),
    block("split_clients", HTTP, 2, 2, DATA),
    // headers, access, logs
    d("add_header", HSL | LIF, 2, 3),
    d("allow", HSL, 1, 1),
    d("deny", HSL, 1, 1),
    d("access_log", HSL | LIF, 1, MANY),
    d("log_format", HTTP, 2, MANY),
    flag("log_subrequest", HSL),
    // limit_req (see src/limit/)
    d("limit_req_zone", HTTP, 3, 7),
    d("limit_req", HSL, 1, 3),
    d("limit_req_status", HSL, 1, 1),
    d("limit_req_log_level", HSL, 1, 1),
    flag("limit_req_dry_run", HSL),
    d("limit_conn_zone", HTTP, 2, 2),
    d("limit_conn", HSL, 2, 2),
    d("limit_conn_status", HSL, 1, 1),
    d("limit_conn_log_level", HSL, 1, 1),
    flag("limit_conn_dry_run", HSL),
    // compression (see src/compress/)
    flag("gzip", HSL | LIF),
    d("gzip_types", HSL, 1, MANY),
    d("gzip_comp_level", HSL, 1, 1),
    d("gzip_min_length", HSL, 1, 1),
    flag("gzip_vary", HSL),
    d("gzip_proxied", HSL, 1, MANY),
    d("gzip_disable", HSL, 1, MANY),
    d("gzip_http_version", HSL, 1, 1),
    flag("brotli", HSL | LIF),
    d("brotli_types", HSL, 1, MANY),
    d("brotli_comp_level", HSL, 1, 1),
    d("brotli_min_length", HSL, 1, 1),
    flag("zstd", HSL | LIF),
    d("zstd_types", HSL, 1, MANY),
    d("zstd_comp_level", HSL, 1, 1),
    d("zstd_min_length", HSL, 1, 1),
    // TLS (see src/tls/, src/config/ssl.rs)
    d("ssl_certificate", HTTP | SERVER, 1, 1),
    d("ssl_certificate_key", HTTP | SERVER, 1, 1),
    d("ssl_protocols", HTTP | SERVER, 1, MANY),
    d("ssl_ciphers", HTTP | SERVER, 1, 1),
    flag("ssl_prefer_server_ciphers", HTTP | SERVER),
    d("ssl_session_cache", HTTP | SERVER, 1, 2),
    d("ssl_session_timeout", HTTP | SERVER, 1, 1),
    flag("ssl_session_tickets", HTTP | SERVER),
    flag("ssl_early_data", HTTP | SERVER),
    flag("http2", HTTP | SERVER),
    d("ssl_client_certificate", HTTP | SERVER, 1, 1),
    d("ssl_verify_client", HTTP | SERVER, 1, 1),
    d("ssl_verify_depth", HTTP | SERVER, 1, 1),
    d("ssl_certificate_by_lua_block", HTTP | SERVER, 0, 0),
    d("ssl_certificate_by_lua_file", HTTP | SERVER, 1, 1),
    // ACME (src/config/acme.rs, src/tls/acme/), with nginx's ngx_http_acme_module names
    block("acme_issuer", HTTP, 1, 1, ACME),
    d("uri", ACME, 1, 1),
    d("contact", ACME, 1, 1),
    d("state_path", ACME, 1, 1),
    d("ssl_trusted_certificate", ACME, 1, 1),
    flag("ssl_verify", ACME),
    d("challenge", ACME, 1, 1),
    d("accept_terms_of_service", ACME, 0, 0),
    d("acme_certificate", SERVER, 1, MANY),
    flag("acme_on_demand", SERVER),
    // upstream blocks (see src/upstream/)
    block("upstream", HTTP, 1, 1, UPSTREAM),
    d("server", UPSTREAM, 1, MANY),
    d("keepalive", UPSTREAM, 1, 1),
    d("least_conn", UPSTREAM, 0, 0),
    d("ip_hash", UPSTREAM, 0, 0),
    d("hash", UPSTREAM, 1, 2),
    d("random", UPSTREAM, 0, 2),
    d("ewma", UPSTREAM, 0, 0),
    d("health_check", UPSTREAM, 0, 7),
    d("zone", UPSTREAM, 1, 2),
    d("balancer_by_lua_block", UPSTREAM, 0, 0),
    d("balancer_by_lua_file", UPSTREAM, 1, 1),
    // proxy (see src/proxy/)
    d("proxy_pass", LOCATION | LIF, 1, 1),
    d("proxy_set_header", HSL, 2, 2),
    d("proxy_hide_header", HSL, 1, 1),
    d("proxy_pass_header", HSL, 1, 1),
    d("proxy_http_version", HSL, 1, 1),
    flag("proxy_pass_request_headers", HSL),
    flag("proxy_pass_request_body", HSL),
    d("proxy_connect_timeout", HSL, 1, 1),
    d("proxy_send_timeout", HSL, 1, 1),
    d("proxy_read_timeout", HSL, 1, 1),
    d("proxy_next_upstream", HSL, 1, MANY),
    d("proxy_next_upstream_tries", HSL, 1, 1),
    d("proxy_next_upstream_timeout", HSL, 1, 1),
    flag("proxy_intercept_errors", HSL),
    d("proxy_redirect", HSL, 1, 2),
    flag("proxy_buffering", HSL),
    flag("proxy_request_buffering", HSL),
    flag("proxy_ssl_verify", HSL),
    d("proxy_ssl_trusted_certificate", HSL, 1, 1),
    flag("proxy_ssl_server_name", HSL),
    d("proxy_ssl_name", HSL, 1, 1),
    flag("proxy_ssl_session_reuse", HSL),
    d("proxy_ssl_protocols", HSL, 1, MANY),
    d("proxy_ssl_ciphers", HSL, 1, 1),
    d("proxy_ssl_verify_depth", HSL, 1, 1),
    d("proxy_ssl_certificate", HSL, 1, 1),
    d("proxy_ssl_certificate_key", HSL, 1, 1),
    // resolver (see src/resolver/)
    d("resolver", HSL | UPSTREAM, 1, MANY),
    d("resolver_timeout", HSL | UPSTREAM, 1, 1),
    // API keys (see src/keys/)
    d("api_key_store", HTTP, 1, 1),
    d("api_key_tier", HTTP, 2, 3),
    d("api_key_cache_ttl", HTTP, 1, 1),
    d("api_key_check_header", HSL, 1, 1),
    d("api_key_check_arg", HSL, 1, 1),
    d("api_key_scope", HSL, 1, MANY),
    d("api_key_limit_rate", HSL, 1, 4),
    // grpc (the proxy module's settings under the grpc module's names)
    d("grpc_pass", LOCATION | LIF, 1, 1),
    d("grpc_set_header", HSL, 2, 2),
    d("grpc_hide_header", HSL, 1, 1),
    d("grpc_pass_header", HSL, 1, 1),
    d("grpc_connect_timeout", HSL, 1, 1),
    d("grpc_send_timeout", HSL, 1, 1),
    d("grpc_read_timeout", HSL, 1, 1),
    d("grpc_next_upstream", HSL, 1, MANY),
    d("grpc_next_upstream_tries", HSL, 1, 1),
    d("grpc_next_upstream_timeout", HSL, 1, 1),
    flag("grpc_intercept_errors", HSL),
    flag("grpc_ssl_verify", HSL),
    d("grpc_ssl_trusted_certificate", HSL, 1, 1),
    flag("grpc_ssl_server_name", HSL),
    d("grpc_ssl_name", HSL, 1, 1),
    // cache (see src/cache/)
    d("proxy_cache_path", HTTP, 2, MANY),
    d("proxy_cache", HSL, 1, 1),
    d("proxy_cache_key", HSL, 1, 1),
    d("proxy_cache_valid", HSL, 1, MANY),
    d("proxy_cache_methods", HSL, 1, MANY),
    d("proxy_cache_min_uses", HSL, 1, 1),
    d("proxy_cache_bypass", HSL, 1, MANY),
    d("proxy_no_cache", HSL, 1, MANY),
    d("proxy_cache_use_stale", HSL, 1, MANY),
    flag("proxy_cache_background_update", HSL),
    flag("proxy_cache_lock", HSL),
    d("proxy_cache_lock_timeout", HSL, 1, 1),
    d("proxy_cache_lock_age", HSL, 1, 1),
    flag("proxy_cache_revalidate", HSL),
    d("proxy_ignore_headers", HSL, 1, MANY),
    d("proxy_cache_purge", LOCATION | LIF, 1, MANY),
    // Lua (see src/lua/)
    d("lua_package_path", HTTP, 1, 1),
    d("echo", LOCATION | LIF, 0, MANY),
    d("echo_duplicate", LOCATION | LIF, 2, 2),
    d("echo_flush", LOCATION | LIF, 0, 0),
    d("echo_sleep", LOCATION | LIF, 1, 1),
    d("echo_location", LOCATION | LIF, 1, 2),
    d("echo_location_async", LOCATION | LIF, 1, 2),
    d("echo_exec", LOCATION | LIF, 1, 2),
    d("echo_read_request_body", LOCATION | LIF, 0, 0),
    d("echo_request_body", LOCATION | LIF, 0, 0),
    d("echo_before_body", LOCATION | LIF, 0, MANY),
    d("echo_after_body", LOCATION | LIF, 0, MANY),
    d("more_set_headers", HSL | LIF, 1, 64),
    d("more_clear_headers", HSL | LIF, 1, 64),
    d("more_set_input_headers", HSL | LIF, 1, 64),
    d("more_clear_input_headers", HSL | LIF, 1, 64),
    d("lua_ssl_trusted_certificate", HTTP, 1, 1),
    d("lua_ssl_verify_depth", HTTP, 1, 1),
    d("lua_ssl_protocols", HTTP, 1, 6),
    d("lua_ssl_ciphers", HTTP, 1, 1),
    d("lua_shared_dict", HTTP, 2, 2),
    flag("lua_need_request_body", HSL),
    d("lua_max_pending_timers", HTTP, 1, 1),
    d("lua_max_running_timers", HTTP, 1, 1),
    d("lua_regex_cache_max_entries", HTTP, 1, 1),
    d("lua_regex_match_limit", HTTP, 1, 1),
    d("lua_capture_error_log", HTTP, 1, 1),
    flag("lua_check_client_abort", HSL),
    flag("lua_socket_log_errors", HSL),
    d("lua_socket_connect_timeout", HSL, 1, 1),
    d("lua_socket_send_timeout", HSL, 1, 1),
    d("lua_socket_read_timeout", HSL, 1, 1),
    d("lua_socket_keepalive_timeout", HSL, 1, 1),
    d("lua_socket_pool_size", HSL, 1, 1),
    d("lua_socket_buffer_size", HSL, 1, 1),
    flag("lua_transform_underscores_in_response_headers", HSL),
    d("lua_package_cpath", HTTP, 1, 1),
    flag("lua_code_cache", HSL),
    d("set_by_lua_block", SERVER | LOCATION | SIF | LIF, 1, 1),
    d("set_by_lua_file", SERVER | LOCATION | SIF | LIF, 2, MANY),
    d("set_by_lua", SERVER | LOCATION | SIF | LIF, 2, MANY),
    d("rewrite_by_lua_block", HSL | LIF, 0, 0),
    d("rewrite_by_lua_file", HSL | LIF, 1, 1),
    d("rewrite_by_lua", HSL | LIF, 1, 1),
    d("access_by_lua_block", HSL | LIF, 0, 0),
    d("access_by_lua_file", HSL | LIF, 1, 1),
    d("access_by_lua", HSL | LIF, 1, 1),
    d("content_by_lua_block", LOCATION | LIF, 0, 0),
    d("content_by_lua_file", LOCATION | LIF, 1, 1),
    d("content_by_lua", LOCATION | LIF, 1, 1),
    d("header_filter_by_lua_block", HSL | LIF, 0, 0),
    d("header_filter_by_lua_file", HSL | LIF, 1, 1),
    d("header_filter_by_lua", HSL | LIF, 1, 1),
    d("body_filter_by_lua_block", HSL | LIF, 0, 0),
    d("body_filter_by_lua_file", HSL | LIF, 1, 1),
    d("body_filter_by_lua", HSL | LIF, 1, 1),
    d("log_by_lua_block", HSL | LIF, 0, 0),
    d("log_by_lua_file", HSL | LIF, 1, 1),
    d("log_by_lua", HSL | LIF, 1, 1),
    d("init_by_lua_block", HTTP, 0, 0),
    d("init_by_lua_file", HTTP, 1, 1),
    d("init_by_lua", HTTP, 1, 1),
    d("exit_worker_by_lua_block", HTTP, 0, 0),
    d("exit_worker_by_lua_file", HTTP, 1, 1),
    d("init_worker_by_lua_block", HTTP, 0, 0),
    d("init_worker_by_lua_file", HTTP, 1, 1),
    d("init_worker_by_lua", HTTP, 1, 1),
];

/// nginx directives that make no sense in OpenClaw; accepted with a notice and ignored.
pub static IGNORED: &[(&str, Ctx)] = &[
    ("user", MAIN),
    ("worker_rlimit_nofile", MAIN),
    ("worker_rlimit_core", MAIN),
    ("worker_cpu_affinity", MAIN),
    ("worker_priority", MAIN),
    ("worker_shutdown_timeout", MAIN),
    ("working_directory", MAIN),
    ("pcre_jit", MAIN),
    ("thread_pool", MAIN),
    ("timer_resolution", MAIN),
    ("lock_file", MAIN),
    ("load_module", MAIN),
    ("multi_accept", EVENTS),
    ("use", EVENTS),
    ("accept_mutex", EVENTS),
    ("accept_mutex_delay", EVENTS),
    ("sendfile", HSL | LIF),
    ("sendfile_max_chunk", HSL),
    ("tcp_nopush", HSL),
    ("tcp_nodelay", HSL),
    ("aio", HSL),
    ("directio", HSL),
    ("output_buffers", HSL),
    ("open_file_cache", HSL),
    ("open_file_cache_valid", HSL),
    ("open_file_cache_min_uses", HSL),
    ("open_file_cache_errors", HSL),
    ("reset_timedout_connection", HSL),
    ("server_names_hash_bucket_size", HTTP),
    ("server_names_hash_max_size", HTTP),
    ("types_hash_max_size", HTTP),
    ("types_hash_bucket_size", HTTP),
    ("variables_hash_max_size", HTTP),
    ("variables_hash_bucket_size", HTTP),
    ("map_hash_bucket_size", HTTP),
    ("map_hash_max_size", HTTP),
    ("client_body_buffer_size", HSL),
    ("client_header_buffer_size", HTTP | SERVER),
    ("client_body_temp_path", HSL),
    ("proxy_temp_path", HSL),
    ("fastcgi_temp_path", HSL),
    ("scgi_temp_path", HSL),
    ("uwsgi_temp_path", HSL),
    ("ssl_dhparam", HTTP | SERVER),
    ("ssl_ecdh_curve", HTTP | SERVER),
    ("ssl_stapling", HTTP | SERVER),
    ("ssl_stapling_verify", HTTP | SERVER),
    ("ssl_buffer_size", HTTP | SERVER),
    ("gzip_buffers", HSL),
    ("brotli_buffers", HSL),
    ("brotli_window", HSL),
    ("zstd_buffers", HSL),
    ("proxy_buffer_size", HSL),
    ("proxy_buffers", HSL),
    ("proxy_busy_buffers_size", HSL),
    ("proxy_max_temp_file_size", HSL),
    ("proxy_temp_file_write_size", HSL),
];

pub fn lookup(name: &str) -> Option<&'static Spec> {
    TABLE.iter().find(|s| s.name == name)
}

/// The row for `name` that is allowed in `ctx` (`server` is a block in http and a plain
/// directive in upstream), else the first row with that name.
pub fn lookup_in(name: &str, ctx: Ctx) -> Option<&'static Spec> {
    TABLE
        .iter()
        .find(|s| s.name == name && s.ctx & ctx != 0)
        .or_else(|| lookup(name))
}

pub fn ignored(name: &str) -> Option<Ctx> {
    IGNORED.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}
