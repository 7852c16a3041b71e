//! Data-driven gateway behaviour: each file under tests/cases/ holds Test::Nginx-style
//! blocks run against the real binary.

mod common;

macro_rules! case_files {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(#[test] fn $name() { common::cases::run_file($file); })*
    };
}

case_files! {
    basics => "tests/cases/basics.t",
    lua => "tests/cases/lua.t",
    limit_req => "tests/cases/limit_req.t",
    locations => "tests/cases/locations.t",
    server_names => "tests/cases/server_names.t",
    rewrite => "tests/cases/rewrite.t",
    variables => "tests/cases/variables.t",
    static_files => "tests/cases/static.t",
    error_pages => "tests/cases/error_pages.t",
    headers_access => "tests/cases/headers_access.t",
    limits => "tests/cases/limits.t",
    map_split => "tests/cases/map_split.t",
    logs => "tests/cases/logs.t",
    lua_api => "tests/cases/lua_api.t",
    proxy => "tests/cases/proxy.t",
    balancer => "tests/cases/balancer.t",
    tls => "tests/cases/tls.t",
    gzip => "tests/cases/gzip.t",
    cache => "tests/cases/cache.t",
    req_socket => "tests/cases/req_socket.t",
    headers_more => "tests/cases/headers_more.t",
    set_misc => "tests/cases/set_misc.t",
    echo => "tests/cases/echo.t",
    lua_stream => "tests/cases/lua_stream.t",
    cosocket_unix => "tests/cases/cosocket_unix.t",
    capture_opts => "tests/cases/capture_opts.t",
    capture_multi => "tests/cases/capture_multi.t",
    raw_req_socket => "tests/cases/raw_req_socket.t",
    errlog => "tests/cases/errlog.t",
}
