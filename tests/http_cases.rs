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
}
