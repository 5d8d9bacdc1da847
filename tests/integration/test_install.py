"""make install, then a program built against the installed library with pkg-config."""
import hashlib
import hmac
import os
import subprocess

from conftest import BUILD, ROOT, check_sanitizers, run

PROGRAM = r"""
#include <flagtrail/flagtrail.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    const char body[] = "{\"identity\": \"u\", \"flags\": [], \"traits\": [], \"segments\": []}";
    ft_signer *s = ft_signer_new("k", 1);
    char hex[65];
    if (!s || ft_signer_hex(s, body, strlen(body), hex) != FT_OK) return 1;
    ft_json_doc *doc = ft_json_doc_new(NULL);
    struct ft_arena arena;
    ft_arena_init(&arena, 0);
    struct ft_payload p;
    int rc = ft_payload_parse(doc, body, strlen(body), &arena, &p, NULL);
    printf("%s %s %s\n", FT_VERSION, hex, ft_strerror(rc));
    ft_arena_free(&arena);
    ft_json_doc_free(doc);
    ft_signer_free(s);
    return rc;
}
"""


def test_install_and_build_against_the_library(tmp_path):
    prefix = tmp_path / "prefix"
    sanitize = os.environ.get("SANITIZE", "")
    make = ["make", "-s", "-C", str(ROOT), "install", f"PREFIX={prefix}",
            f"BUILD={BUILD.relative_to(ROOT)}", f"SANITIZE={sanitize}"]
    res = run(make, timeout=600)
    assert res.returncode == 0, res.stderr.decode()
    for path in ("bin/flagtrail", "include/flagtrail/flagtrail.h", "lib/libflagtrail.a",
                 "lib/libflagtrail.so", "lib/pkgconfig/flagtrail.pc"):
        assert (prefix / path).exists(), path
    # the demo's environment is installed, and the installed demo finds it from anywhere
    installed = prefix / "share" / "flagtrail" / "demo-environment.json"
    assert installed.read_bytes() == (ROOT / "tests" / "data" / "engine" / "v1" /
                                      "environment_n9fbf9h3v4fFgH3U3ngWhb.json").read_bytes()
    demo = subprocess.run([str(prefix / "bin" / "flagtrail"), "demo", "--identities", "50",
                           "--dir", str(tmp_path / "demo")], cwd=tmp_path, capture_output=True,
                          timeout=120)
    check_sanitizers(demo.stderr)
    assert demo.returncode == 0, demo.stderr.decode()
    assert "share/flagtrail/demo-environment.json" in demo.stdout.decode()
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    san = [f"-fsanitize={sanitize}"] if sanitize else []
    body = b'{"identity": "u", "flags": [], "traits": [], "segments": []}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    for kind, flags in (("static", ["--static"]), ("shared", [])):
        pc = subprocess.run(["pkg-config", "--cflags", "--libs", *flags, "flagtrail"],
                            capture_output=True, text=True, env=env, check=True).stdout.split()
        exe = tmp_path / f"prog-{kind}"
        if kind == "static":  # the archive, where pkg-config puts -lflagtrail
            pc = [part for f in pc for part in
                  (["-Wl,-Bstatic", "-lflagtrail", "-Wl,-Bdynamic"] if f == "-lflagtrail" else [f])]
        cmd = ["cc", "-o", str(exe), str(src), *san, *pc]
        subprocess.run(cmd, check=True, env=env)
        out = run([str(exe)], env={"LD_LIBRARY_PATH": str(prefix / "lib")})
        assert out.returncode == 0, out.stderr
        version = subprocess.run([str(prefix / "bin" / "flagtrail"), "--version"],
                                 capture_output=True, text=True).stdout.split()[1]
        assert out.stdout.decode() == f"{version} {expected} success\n", kind
