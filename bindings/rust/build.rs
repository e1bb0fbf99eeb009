//! Builds the C library from the crate's own copy of it (`csrc/src/*.c`,
//! `csrc/include/bufpool.h`; `make rust-sync` in the repository writes it,
//! and `make check` fails while it differs from `src/` and `include/`) into
//! a static archive in OUT_DIR and links it.  With `BUFPOOL_LIB_DIR` set, it
//! links the prebuilt `libbufpool.a` (or `.so`) found there instead and
//! compiles no C source.  Then it compiles and runs `probe/layout.c`, which
//! prints the C layout of the public structs for the FFI layout test.
//!
//! Only std and two programs: the C compiler (`$CC`, else `cc`, with the
//! flags the library needs and then `$CFLAGS`, else `-O2`) and `ar` (`$AR`,
//! else `ar`).  Nothing outside the crate's directory is read.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The flags the library needs, whatever `$CFLAGS` says (the Makefile's
/// set, without its warnings).
const NEEDED_CFLAGS: &[&str] = &["-std=gnu11", "-fPIC", "-fvisibility=hidden", "-pthread"];
/// `$CFLAGS` when it is unset or empty.
const DEFAULT_CFLAGS: &str = "-O2";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let csrc = manifest.join("csrc");
    let src = csrc.join("src");
    let include = csrc.join("include");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    println!("cargo:rerun-if-env-changed=BUFPOOL_LIB_DIR");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=CFLAGS");
    println!("cargo:rerun-if-env-changed=AR");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=probe/layout.c");
    println!("cargo:rerun-if-changed={}", include.join("bufpool.h").display());

    let cc = tool("CC", "cc");
    match env::var_os("BUFPOOL_LIB_DIR") {
        Some(dir) if !dir.is_empty() => link_prebuilt(Path::new(&dir)),
        _ => {
            let sources = c_sources(&src);
            // A directory: cargo rescans it (every file's mtime), so an
            // edited, added or removed file reruns this script.
            println!("cargo:rerun-if-changed={}", src.display());
            let cflags = tool("CFLAGS", DEFAULT_CFLAGS);
            build_and_link(&cc, &cflags, &sources, &src, &include, &out)
        }
    }
    // glibc >= 2.34 has pthreads in libc; older ones need it named.
    println!("cargo:rustc-link-lib=pthread");

    probe_layout(&cc, &manifest, &include, &out);
}

/// `$VAR` split on whitespace (so `CC="gcc -m64"` works), else `default`
/// (also when it is empty).
fn tool(var: &str, default: &str) -> Vec<OsString> {
    let v = env::var(var).ok().filter(|s| !s.trim().is_empty());
    let v = v.unwrap_or_else(|| default.to_string());
    v.split_whitespace().map(OsString::from).collect()
}

fn command(tool: &[OsString]) -> Command {
    let mut c = Command::new(&tool[0]);
    c.args(&tool[1..]);
    c
}

fn c_sources(src: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(src)
        .unwrap_or_else(|e| {
            panic!(
                "bufpool build: cannot read the crate's copy of the C sources, {}: {e} \
                 (in a checkout of the bufpool repository, `make rust-sync` writes it; \
                 or set BUFPOOL_LIB_DIR to a directory with a prebuilt libbufpool.a)",
                src.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "bufpool build: no C sources in {}", src.display());
    v
}

fn link_prebuilt(dir: &Path) {
    let dir = dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("bufpool build: BUFPOOL_LIB_DIR={}: {e}", dir.display()));
    println!("cargo:rustc-link-search=native={}", dir.display());
    if dir.join("libbufpool.a").exists() {
        println!("cargo:rustc-link-lib=static=bufpool");
    } else if dir.join("libbufpool.so").exists() {
        println!("cargo:rustc-link-lib=dylib=bufpool");
        // The crate's own tests, examples and benches find it at run time.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    } else {
        panic!(
            "bufpool build: BUFPOOL_LIB_DIR={} holds neither libbufpool.a nor libbufpool.so",
            dir.display()
        );
    }
    for f in ["libbufpool.a", "libbufpool.so"] {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
    }
}

fn build_and_link(
    cc: &[OsString],
    cflags: &[OsString],
    sources: &[PathBuf],
    src: &Path,
    include: &Path,
    out: &Path,
) {
    let objdir = out.join("obj");
    fs::create_dir_all(&objdir).expect("create OUT_DIR/obj");
    // cargo's -j for build scripts; the C files compile that many at a time.
    let jobs: usize = env::var("NUM_JOBS").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);

    let mut objects = Vec::new();
    let mut running: Vec<(PathBuf, Child)> = Vec::new();
    for s in sources {
        let obj = objdir.join(s.file_stem().unwrap()).with_extension("o");
        let mut c = command(cc);
        c.args(NEEDED_CFLAGS).args(cflags).arg("-I").arg(include).arg("-I").arg(src);
        c.arg("-c").arg(s).arg("-o").arg(&obj).stdin(Stdio::null());
        let child = c.spawn().unwrap_or_else(|e| panic!("bufpool build: cannot run {:?}: {e}", cc[0]));
        running.push((s.clone(), child));
        objects.push(obj);
        if running.len() >= jobs {
            wait_one(&mut running);
        }
    }
    while !running.is_empty() {
        wait_one(&mut running);
    }

    let lib = out.join("libbufpool.a");
    let _ = fs::remove_file(&lib);
    let ar = tool("AR", "ar");
    let status = command(&ar)
        .arg("crs")
        .arg(&lib)
        .args(&objects)
        .status()
        .unwrap_or_else(|e| panic!("bufpool build: cannot run {:?}: {e}", ar[0]));
    assert!(status.success(), "bufpool build: {:?} crs failed ({status})", ar[0]);

    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=bufpool");
}

fn wait_one(running: &mut Vec<(PathBuf, Child)>) {
    let (s, mut child) = running.remove(0);
    let status = child.wait().expect("wait for the C compiler");
    assert!(status.success(), "bufpool build: compiling {} failed ({status})", s.display());
}

/// Compile and run probe/layout.c; its output goes to OUT_DIR/layout.txt,
/// which the layout test reads.  When the probe cannot run here (a cross
/// build), the file says why and the test reports that instead.
fn probe_layout(cc: &[OsString], manifest: &Path, include: &Path, out: &Path) {
    let txt = out.join("layout.txt");
    let host = env::var("HOST").unwrap_or_default();
    let target = env::var("TARGET").unwrap_or_default();
    if host != target {
        fs::write(
            &txt,
            format!("unavailable: cross build ({host} -> {target}): the probe cannot run here\n"),
        )
        .expect("write layout.txt");
        return;
    }
    let exe = out.join("layout_probe");
    let status = command(cc)
        .args(["-std=gnu11", "-O0"])
        .arg("-I")
        .arg(include)
        .arg(manifest.join("probe/layout.c"))
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap_or_else(|e| panic!("bufpool build: cannot run {:?}: {e}", cc[0]));
    assert!(status.success(), "bufpool build: compiling probe/layout.c failed ({status})");
    let output = Command::new(&exe).output().expect("run the layout probe");
    assert!(output.status.success(), "bufpool build: the layout probe failed ({})", output.status);
    fs::write(&txt, &output.stdout).expect("write layout.txt");
}
