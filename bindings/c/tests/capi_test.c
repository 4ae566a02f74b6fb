/* Exercises every function of include/deckhouse_registry.h, success and error paths.
 * Run by bindings/c/test.sh under Valgrind (leaks are errors) and AddressSanitizer.
 * Usage: capi_test REPO_ROOT WORK_DIR */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

#include "deckhouse_registry.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                              \
  do {                                                                           \
    checks++;                                                                    \
    if (!(cond)) {                                                               \
      failures++;                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
    }                                                                            \
  } while (0)

/* Runs a call that must return `want`; on an error checks the error object's code and frees it. */
#define EXPECT(want, call)                                                         \
  do {                                                                             \
    dr_error *err_ = NULL;                                                         \
    dr_error **errp_ = &err_;                                                      \
    (void)errp_;                                                                   \
    dr_status got_ = (call);                                                       \
    checks++;                                                                      \
    if (got_ != (want)) {                                                          \
      failures++;                                                                  \
      fprintf(stderr, "%s:%d: %s: got %s, want %s: %s\n", __FILE__, __LINE__,      \
              #call, dr_status_name(got_), dr_status_name(want),                   \
              err_ ? dr_error_message(err_) : "(no error)");                       \
    }                                                                              \
    if ((want) == DR_STATUS_OK) {                                                  \
      CHECK(err_ == NULL);                                                         \
    } else {                                                                       \
      CHECK(err_ != NULL);                                                         \
      CHECK(dr_error_code(err_) == (want));                                        \
      CHECK(dr_error_message(err_) != NULL && dr_error_message(err_)[0] != '\0'); \
    }                                                                              \
    last_problems_ok = err_ && dr_error_problems_json(err_) != NULL;               \
    if (err_ && dr_error_problems_json(err_))                                      \
      snprintf(last_problems, sizeof last_problems, "%s",                          \
               dr_error_problems_json(err_));                                      \
    if (err_)                                                                      \
      snprintf(last_message, sizeof last_message, "%s", dr_error_message(err_));   \
    dr_error_free(err_);                                                           \
  } while (0)

#define E errp_

static int last_problems_ok;
static char last_problems[16384];
static char last_message[4096];
static const char *root;
static const char *work;

static char *read_file(const char *rel, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) exit(2);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) exit(2);
  fputs(text, f);
  fclose(f);
}

static char *path_in_work(const char *name) {
  char *p = NULL;
  if (asprintf(&p, "%s/%s", work, name) < 0) exit(2);
  return p;
}

/* Copies the value of "key":"…" from a JSON text into out (enough for digests). */
static void json_str(const char *json, const char *key, char *out, size_t cap) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(json, pat);
  out[0] = '\0';
  if (!p) return;
  p += strlen(pat);
  size_t i = 0;
  while (p[i] && p[i] != '"' && i + 1 < cap) {
    out[i] = p[i];
    i++;
  }
  out[i] = '\0';
}

static char *validate_file(const char *rel) {
  size_t len;
  char *yaml = read_file(rel, &len);
  char *settings = NULL;
  EXPECT(DR_STATUS_OK, dr_load_settings((const uint8_t *)yaml, len, NULL, &settings, E));
  free(yaml);
  return settings;
}

static void test_version_and_names(void) {
  CHECK(dr_abi_version() == DR_ABI_VERSION);
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", DR_VERSION_MAJOR, DR_VERSION_MINOR, DR_VERSION_PATCH);
  CHECK(strcmp(dr_version(), want) == 0);
  CHECK(DR_ABI_VERSION == DR_VERSION_MAJOR * 10000 + DR_VERSION_MINOR * 100 + DR_VERSION_PATCH);
  CHECK(strcmp(dr_status_name(DR_STATUS_OK), "Ok") == 0);
  CHECK(strcmp(dr_status_name(DR_STATUS_NOT_FOUND), "NotFound") == 0);
  CHECK(strcmp(dr_status_name(DR_STATUS_INVALID_SETTINGS), "InvalidSettings") == 0);
  CHECK(strcmp(dr_status_name(12345), "Unknown") == 0);
}

static void test_null_frees(void) {
  dr_error_free(NULL);
  dr_string_free(NULL);
  dr_bytes_free(NULL, 0);
  dr_store_free(NULL);
  dr_writer_free(NULL);
  dr_reader_free(NULL);
  CHECK(dr_error_message(NULL) == NULL);
  CHECK(dr_error_problems_json(NULL) == NULL);
  CHECK(dr_error_code(NULL) == DR_STATUS_INVALID_ARGUMENT);
  CHECK(dr_writer_written(NULL) == 0);
  CHECK(dr_reader_size(NULL) == 0);
}

static void test_validate(void) {
  char *s = validate_file("examples/configs/proxy.yaml");
  CHECK(s && strstr(s, "\"mode\":\"Proxy\""));
  CHECK(s && strstr(s, "\"ttl\":\"72h0m0s\""));
  CHECK(s && strstr(s, "\"host\":\"nexus.example.com\""));
  CHECK(s && strstr(s, "\"port\":8443"));
  dr_string_free(s);

  /* Every problem at once, with paths and codes. */
  size_t len;
  char *yaml = read_file("examples/configs/invalid.yaml", &len);
  char *out = NULL;
  EXPECT(DR_STATUS_INVALID_SETTINGS, dr_load_settings((const uint8_t *)yaml, len, NULL, &out, E));
  CHECK(out == NULL); /* out-params are written only on success */
  CHECK(last_problems_ok);
  CHECK(strstr(last_problems, "\"code\":\"SectionNotAllowed\""));
  CHECK(strstr(last_problems, "\"code\":\"InvalidPort\""));
  CHECK(strstr(last_problems, "\"code\":\"InvalidPath\""));
  CHECK(strstr(last_problems, "\"code\":\"TtlTooShort\""));
  CHECK(strstr(last_problems, "\"code\":\"ConflictingCredentials\""));
  CHECK(strstr(last_problems, "\"path\":\"spec.settings.registry.proxy.ttl\""));
  /* The license key never appears in problems or message. */
  CHECK(strstr(last_problems, "example-license-key") == NULL);
  CHECK(strstr(last_message, "example-license-key") == NULL);
  /* A NULL error out-parameter is allowed: only the status comes back. */
  CHECK(dr_load_settings((const uint8_t *)yaml, len, NULL, &out, NULL) == DR_STATUS_INVALID_SETTINGS);
  free(yaml);

  /* Bootstrap allows only Direct and the Unmanaged forms. */
  yaml = read_file("examples/configs/proxy.yaml", &len);
  EXPECT(DR_STATUS_INVALID_SETTINGS,
         dr_load_settings((const uint8_t *)yaml, len, "{\"bootstrap\":true}", &out, E));
  CHECK(strstr(last_problems, "ModeNotAllowedAtBootstrap"));
  CHECK(strstr(last_problems, "example-password") == NULL);
  EXPECT(DR_STATUS_INVALID_ARGUMENT,
         dr_load_settings((const uint8_t *)yaml, len, "{\"bootstrapp\":true}", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_load_settings((const uint8_t *)yaml, len, "{", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_load_settings((const uint8_t *)yaml, len, "\xff", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_load_settings((const uint8_t *)yaml, len, NULL, NULL, E));
  free(yaml);

  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_load_settings(NULL, 5, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_DOCUMENT, dr_load_settings(NULL, 0, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_DOCUMENT, dr_load_settings((const uint8_t *)"a: [", 4, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_DOCUMENT, dr_load_settings((const uint8_t *)"\xff\xfe", 2, NULL, &out, E));
  CHECK(!last_problems_ok);
  CHECK(out == NULL);
}

static void test_plan(void) {
  char *local = validate_file("examples/configs/local.yaml");
  char *proxy = validate_file("examples/configs/proxy.yaml");
  char *direct = validate_file("examples/configs/direct.yaml");
  size_t flen;
  char *facts = read_file("examples/configs/cluster.yaml", &flen);
  char *d = NULL;

  /* Local -> Proxy only through Direct: refused, with the shortest route. */
  EXPECT(DR_STATUS_OK, dr_plan(local, proxy, facts, &d, E));
  CHECK(d && strstr(d, "\"allowed\":false"));
  CHECK(d && strstr(d, "\"route\":[\"Local\",\"Direct\",\"Proxy\"]"));
  CHECK(d && strstr(d, "\"code\":\"TransitionNotSupported\""));
  dr_string_free(d);
  d = NULL;
  /* Rendering that switch is refused the same way, unless the check is skipped. */
  EXPECT(DR_STATUS_TRANSITION_REFUSED, dr_render(proxy, local, facts, NULL, &d, E));
  CHECK(d == NULL && strstr(last_message, "switch from Local to Proxy refused"));
  EXPECT(DR_STATUS_OK, dr_render(proxy, local, facts, "{\"switchCheck\":\"skip\"}", &d, E));
  CHECK(d && strstr(d, "\"files\""));
  dr_string_free(d);
  d = NULL;

  /* Direct -> Proxy on a static cluster: allowed, Proxy's pipeline, deckhouse restarts. */
  EXPECT(DR_STATUS_OK, dr_plan(direct, proxy, facts, &d, E));
  CHECK(d && strstr(d, "\"allowed\":true"));
  CHECK(d && strstr(d, "\"stages\":[\"RegistryContainsRequiredImages\",\"ContainerdConfigPreflightReady\",\"NodeServicesReady\""));
  CHECK(d && strstr(d, "\"Deckhouse\""));
  dr_string_free(d);
  d = NULL;

  /* Default facts (NULL). */
  EXPECT(DR_STATUS_OK, dr_plan(direct, direct, NULL, &d, E));
  CHECK(d && strstr(d, "\"allowed\":true") && strstr(d, "\"stages\":[]"));
  dr_string_free(d);
  d = NULL;

  /* Proxy needs a static cluster. */
  size_t clen;
  char *cloud = read_file("examples/configs/cluster-cloud.yaml", &clen);
  EXPECT(DR_STATUS_OK, dr_plan(direct, proxy, cloud, &d, E));
  CHECK(d && strstr(d, "\"allowed\":false"));
  dr_string_free(d);
  d = NULL;
  free(cloud);

  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_plan(NULL, proxy, NULL, &d, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_plan(local, "{\"mode\":\"Nope\"}", NULL, &d, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_plan(local, "\xc3\x28", NULL, &d, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_plan(local, proxy, NULL, NULL, E));
  EXPECT(DR_STATUS_INVALID_FACTS, dr_plan(local, proxy, "clusterType: Moon", &d, E));
  EXPECT(DR_STATUS_INVALID_DOCUMENT, dr_plan(local, proxy, "a: [", &d, E));
  /* A password in a wrongly typed settings JSON is not echoed. */
  EXPECT(DR_STATUS_INVALID_ARGUMENT,
         dr_plan(local, "{\"mode\":\"Direct\",\"upstream\":{\"host\":\"r.example\",\"port\":\"s3cr3t-value\"}}", NULL, &d, E));
  CHECK(strstr(last_message, "s3cr3t-value") == NULL);
  CHECK(d == NULL);

  free(facts);
  dr_string_free(local);
  dr_string_free(proxy);
  dr_string_free(direct);
}

static void test_render_apply(void) {
  char *direct = validate_file("examples/configs/direct.yaml");
  char *proxy = validate_file("examples/configs/proxy.yaml");
  size_t flen;
  char *facts = read_file("examples/configs/cluster.yaml", &flen);
  char *out = NULL;

  EXPECT(DR_STATUS_OK, dr_node_config(direct, NULL, NULL, &out, E));
  CHECK(out && strstr(out, "\"version\":\"") && strstr(out, "\"transition\":false"));
  CHECK(out && strstr(out, "\"registry.d8-system.svc:5001\""));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_node_config(proxy, direct, facts, &out, E));
  CHECK(out && strstr(out, "\"transition\":true"));
  dr_string_free(out);
  out = NULL;

  /* Direct, containerd 2: hosts.toml maps the fixed address to the upstream with a rewrite. */
  EXPECT(DR_STATUS_OK, dr_render(direct, NULL, NULL, "{\"containerd\":\"v2\"}", &out, E));
  CHECK(out && strstr(out, "/etc/containerd/registry.d/registry.d8-system.svc:5001/hosts.toml"));
  CHECK(out && strstr(out, "[host.\\\"https://registry.deckhouse.io\\\"]"));
  CHECK(out && strstr(out, "replace = \\\"deckhouse/ee\\\""));
  CHECK(out && strstr(out, "\"mode\":\"0600\""));
  CHECK(out && strstr(out, "version = 3"));

  /* Apply writes every file once; a second apply changes nothing. */
  char *node = path_in_work("node");
  char *report = NULL;
  EXPECT(DR_STATUS_OK, dr_apply(out, node, &report, E));
  CHECK(report && strstr(report, "\"restartContainerd\":true"));
  CHECK(report && strstr(report, "hosts.toml"));
  dr_string_free(report);
  report = NULL;
  EXPECT(DR_STATUS_OK, dr_apply(out, node, &report, E));
  CHECK(report && strstr(report, "\"changed\":[]") && strstr(report, "\"restartContainerd\":false"));
  dr_string_free(report);
  report = NULL;
  char hosts[4096];
  snprintf(hosts, sizeof hosts, "%s/etc/containerd/registry.d/registry.d8-system.svc:5001/hosts.toml", node);
  struct stat st;
  CHECK(stat(hosts, &st) == 0 && (st.st_mode & 0777) == 0600);
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_apply("{}", node, &report, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_apply(out, NULL, &report, E));
  EXPECT(DR_STATUS_IO, dr_apply(out, "/proc/self/nonexistent-root", &report, E));
  dr_string_free(out);
  out = NULL;
  free(node);

  /* Proxy without the module CA and read-only user cannot be rendered. */
  EXPECT(DR_STATUS_RENDER_MISSING_INPUT, dr_render(proxy, NULL, NULL, NULL, &out, E));
  EXPECT(DR_STATUS_RENDER_MISSING_INPUT, dr_node_config(proxy, NULL, NULL, &out, E));
  EXPECT(DR_STATUS_OK, dr_render(proxy, NULL, facts, NULL, &out, E));
  CHECK(out && strstr(out, "/etc/kubernetes/registry-proxy/nginx.conf"));
  CHECK(out && strstr(out, "version = 2"));
  dr_string_free(out);
  out = NULL;
  /* Stock containerd cannot express Direct's path rewrite. */
  EXPECT(DR_STATUS_RENDER_REFUSED,
         dr_render(direct, NULL, NULL, "{\"containerd\":\"v2\",\"dialect\":\"upstream\"}", &out, E));
  EXPECT(DR_STATUS_RENDER_INVALID_OPTIONS,
         dr_render(direct, NULL, NULL, "{\"containerd\":\"v1\",\"version\":\"2.1\"}", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_render(direct, NULL, NULL, "{\"colour\":1}", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_render(NULL, NULL, NULL, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_render(direct, NULL, NULL, NULL, NULL, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_node_config(direct, NULL, NULL, NULL, E));
  CHECK(out == NULL);

  /* Cleanup: only plain folder names listed before and not written now. */
  EXPECT(DR_STATUS_OK, dr_stale_host_dirs("[\"a\",\"b\",\"../etc\"]", "[\"b\"]", &out, E));
  CHECK(out && strcmp(out, "{\"remove\":[\"a\"],\"ignored\":[\"../etc\"]}") == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_stale_host_dirs("[1]", "[]", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_stale_host_dirs("[]", NULL, &out, E));

  /* Preflight finds a registry section in conf.d. */
  char *etc = path_in_work("etc-containerd");
  char *confd = path_in_work("etc-containerd/conf.d");
  char *file = path_in_work("etc-containerd/conf.d/50-mirror.toml");
  mkdir(etc, 0755);
  mkdir(confd, 0755);
  write_file(file, "# user mirror\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://mirror.example\"]\n");
  EXPECT(DR_STATUS_OK, dr_preflight(etc, &out, E));
  CHECK(out && strstr(out, "\"file\":\"conf.d/50-mirror.toml\""));
  CHECK(out && strstr(out, "\"line\":2"));
  CHECK(out && strstr(out, "\"hasCustomRegistryConfig\":true"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_preflight(work, &out, E));
  CHECK(out && strcmp(out, "{\"findings\":[],\"unreadable\":[],\"hasCustomRegistryConfig\":false}") == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_preflight(NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_preflight(etc, NULL, E));
  free(etc);
  free(confd);
  free(file);

  free(facts);
  dr_string_free(direct);
  dr_string_free(proxy);
}

static int progress_calls;
static int cancel_after;

static int on_progress(const char *json, void *user_data) {
  CHECK(user_data == &progress_calls);
  CHECK(json && strstr(json, "\"operation\":\""));
  progress_calls++;
  return cancel_after > 0 && progress_calls >= cancel_after;
}

#define HELLO "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define HELLO_WORLD "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"

static void put_str(dr_store *s, const char *text, char *digest, size_t cap) {
  char *outcome = NULL;
  EXPECT(DR_STATUS_OK, dr_store_put(s, (const uint8_t *)text, strlen(text), NULL, &outcome, E));
  json_str(outcome ? outcome : "", "digest", digest, cap);
  dr_string_free(outcome);
}

static void test_uploads_and_completeness(dr_store *s) {
  dr_writer *u = NULL;
  char *id = NULL, *out = NULL;
  /* An upload survives dr_writer_free and resumes where it stopped. */
  EXPECT(DR_STATUS_OK, dr_store_begin_upload(s, NULL, &u, E));
  EXPECT(DR_STATUS_OK, dr_writer_write(u, (const uint8_t *)"hello ", 6, E));
  EXPECT(DR_STATUS_OK, dr_writer_upload_id(u, &id, E));
  CHECK(id && strlen(id) == 32);
  EXPECT(DR_STATUS_OK, dr_writer_save(u, E));
  dr_writer_free(u);
  EXPECT(DR_STATUS_OK, dr_store_uploads(s, &out, E));
  CHECK(out && id && strstr(out, id) && strstr(out, "\"size\":6") && strstr(out, "\"active\":false"));
  dr_string_free(out);
  out = NULL;
  dr_writer *r = NULL;
  EXPECT(DR_STATUS_OK, dr_store_resume_upload(s, id, &r, E));
  CHECK(dr_writer_written(r) == 6);
  EXPECT(DR_STATUS_OK, dr_writer_write(r, (const uint8_t *)"world", 5, E));
  EXPECT(DR_STATUS_OK, dr_writer_commit(r, HELLO_WORLD, 11, &out, E));
  CHECK(out && strstr(out, "\"size\":11"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_INVALID_STATE, dr_writer_save(r, E));
  EXPECT(DR_STATUS_INVALID_STATE, dr_writer_abort(r, E));
  dr_writer_free(r);
  EXPECT(DR_STATUS_OK, dr_store_uploads(s, &out, E));
  CHECK(out && strcmp(out, "[]") == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_resume_upload(s, id, &r, E));
  dr_string_free(id);
  id = NULL;

  /* Aborting a live upload writer, and an upload by id, removes it. */
  EXPECT(DR_STATUS_OK, dr_store_begin_upload(s, "sha512", &u, E));
  EXPECT(DR_STATUS_OK, dr_writer_write(u, (const uint8_t *)"x", 1, E));
  EXPECT(DR_STATUS_OK, dr_writer_abort(u, E));
  EXPECT(DR_STATUS_INVALID_STATE, dr_writer_write(u, (const uint8_t *)"x", 1, E));
  dr_writer_free(u);
  EXPECT(DR_STATUS_OK, dr_store_begin_upload(s, NULL, &u, E));
  EXPECT(DR_STATUS_OK, dr_writer_write(u, (const uint8_t *)"y", 1, E));
  EXPECT(DR_STATUS_OK, dr_writer_upload_id(u, &id, E));
  dr_writer_free(u);
  EXPECT(DR_STATUS_OK, dr_store_abort_upload(s, id, E));
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_abort_upload(s, id, E));
  dr_string_free(id);
  id = NULL;
  EXPECT(DR_STATUS_OK, dr_store_uploads(s, &out, E));
  CHECK(out && strcmp(out, "[]") == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_resume_upload(s, "not-an-upload-id", &r, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_abort_upload(s, NULL, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_begin_upload(s, "crc32", &u, E));

  /* Plain writers are not uploads. */
  dr_writer *w = NULL;
  EXPECT(DR_STATUS_OK, dr_store_writer(s, NULL, &w, E));
  EXPECT(DR_STATUS_INVALID_UPLOAD, dr_writer_upload_id(w, &id, E));
  EXPECT(DR_STATUS_INVALID_UPLOAD, dr_writer_save(w, E));
  CHECK(id == NULL);
  dr_writer_free(w);

  /* Completeness of tagged images. */
  EXPECT(DR_STATUS_OK, dr_store_completeness(s, "[\"v1\"]", &out, E));
  CHECK(out && strncmp(out, "{\"complete\":true", 16) == 0 && strstr(out, "\"blobs\":3"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_completeness(s, "[\"v9\"]", &out, E));
  CHECK(out && strncmp(out, "{\"complete\":false", 17) == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_completeness(s, "[1]", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_completeness(s, "[]", NULL, E));
}

static void test_store(void) {
  char *dir = path_in_work("store");
  dr_store *s = NULL;
  char *out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_open(dir, "{\"durability\":\"relaxed\"}", &s, E));
  CHECK(s != NULL);
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_open(dir, "{\"durability\":\"sometimes\"}", &s, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_open(NULL, NULL, &s, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_open(dir, NULL, NULL, E));
  char *bad = path_in_work("bad-layout");
  char *bad_file = path_in_work("bad-layout/oci-layout");
  mkdir(bad, 0755);
  write_file(bad_file, "{\"imageLayoutVersion\":\"9.0\"}");
  dr_store *never = NULL;
  EXPECT(DR_STATUS_INVALID_LAYOUT, dr_store_open(bad, NULL, &never, E));
  CHECK(never == NULL);
  free(bad);
  free(bad_file);

  /* put: verified, deduplicated */
  EXPECT(DR_STATUS_OK, dr_store_put(s, (const uint8_t *)"hello", 5, HELLO, &out, E));
  CHECK(out && strcmp(out, "{\"digest\":\"" HELLO "\",\"size\":5,\"created\":true}") == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_put(s, (const uint8_t *)"hello", 5, NULL, &out, E));
  CHECK(out && strstr(out, "\"created\":false"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_DIGEST_MISMATCH, dr_store_put(s, (const uint8_t *)"hellO", 5, HELLO, &out, E));
  EXPECT(DR_STATUS_INVALID_DIGEST, dr_store_put(s, (const uint8_t *)"x", 1, "sha256:zz", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_put(NULL, (const uint8_t *)"x", 1, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_put(s, NULL, 1, NULL, &out, E));
  CHECK(out == NULL);

  /* has / stat / get / read */
  bool present = false;
  EXPECT(DR_STATUS_OK, dr_store_has(s, HELLO, &present, E));
  CHECK(present);
  EXPECT(DR_STATUS_OK, dr_store_has(s, HELLO_WORLD, &present, E));
  CHECK(!present);
  EXPECT(DR_STATUS_INVALID_DIGEST, dr_store_has(s, "md5:00", &present, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_has(s, HELLO, NULL, E));
  EXPECT(DR_STATUS_OK, dr_store_stat(s, HELLO, &out, E));
  CHECK(out && strstr(out, "\"size\":5"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_stat(s, HELLO_WORLD, &out, E));
  uint8_t *data = NULL;
  size_t len = 0;
  EXPECT(DR_STATUS_OK, dr_store_get(s, HELLO, &data, &len, E));
  CHECK(len == 5 && data && memcmp(data, "hello", 5) == 0);
  dr_bytes_free(data, len);
  data = NULL;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_get(s, HELLO_WORLD, &data, &len, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_get(s, HELLO, &data, NULL, E));
  CHECK(data == NULL);
  /* ranged read: the bytes from the offset, fewer at the end, none past it */
  EXPECT(DR_STATUS_OK, dr_store_read_range(s, HELLO, 1, 3, &data, &len, E));
  CHECK(len == 3 && data && memcmp(data, "ell", 3) == 0);
  dr_bytes_free(data, len);
  EXPECT(DR_STATUS_OK, dr_store_read_range(s, HELLO, 3, 100, &data, &len, E));
  CHECK(len == 2 && data && memcmp(data, "lo", 2) == 0);
  dr_bytes_free(data, len);
  EXPECT(DR_STATUS_OK, dr_store_read_range(s, HELLO, 99, 4, &data, &len, E));
  CHECK(len == 0);
  dr_bytes_free(data, len);
  data = NULL;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_read_range(s, HELLO_WORLD, 0, 4, &data, &len, E));
  CHECK(data == NULL);

  dr_reader *r = NULL;
  EXPECT(DR_STATUS_OK, dr_store_open_blob(s, HELLO, &r, E));
  CHECK(dr_reader_size(r) == 5);
  uint8_t buf[16];
  size_t n = 0;
  EXPECT(DR_STATUS_OK, dr_reader_read_at(r, 1, buf, 3, &n, E));
  CHECK(n == 3 && memcmp(buf, "ell", 3) == 0);
  EXPECT(DR_STATUS_OK, dr_reader_read_at(r, 3, buf, sizeof buf, &n, E));
  CHECK(n == 2 && memcmp(buf, "lo", 2) == 0);
  EXPECT(DR_STATUS_OK, dr_reader_read_at(r, 99, buf, sizeof buf, &n, E));
  CHECK(n == 0);
  size_t total = 0;
  char all[16];
  do {
    EXPECT(DR_STATUS_OK, dr_reader_read(r, buf, 2, &n, E));
    memcpy(all + total, buf, n);
    total += n;
  } while (n > 0 && total < sizeof all);
  CHECK(total == 5 && memcmp(all, "hello", 5) == 0);
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reader_read(r, NULL, 4, &n, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reader_read(NULL, buf, 4, &n, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reader_read_at(r, 0, buf, 4, NULL, E));
  dr_reader_free(r);
  dr_reader *r2 = NULL;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_open_blob(s, HELLO_WORLD, &r2, E));
  CHECK(r2 == NULL);

  /* streaming writer */
  dr_writer *w = NULL;
  EXPECT(DR_STATUS_OK, dr_store_writer(s, NULL, &w, E));
  EXPECT(DR_STATUS_OK, dr_writer_write(w, (const uint8_t *)"hello ", 6, E));
  EXPECT(DR_STATUS_OK, dr_writer_write(w, (const uint8_t *)"world", 5, E));
  EXPECT(DR_STATUS_OK, dr_writer_write(w, NULL, 0, E));
  CHECK(dr_writer_written(w) == 11);
  EXPECT(DR_STATUS_OK, dr_writer_commit(w, HELLO_WORLD, 11, &out, E));
  CHECK(out && strcmp(out, "{\"digest\":\"" HELLO_WORLD "\",\"size\":11,\"created\":true}") == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_INVALID_STATE, dr_writer_write(w, (const uint8_t *)"x", 1, E));
  EXPECT(DR_STATUS_INVALID_STATE, dr_writer_commit(w, NULL, -1, &out, E));
  dr_writer_free(w);

  EXPECT(DR_STATUS_OK, dr_store_writer(s, "sha256", &w, E));
  EXPECT(DR_STATUS_OK, dr_writer_write(w, (const uint8_t *)"hello", 5, E));
  EXPECT(DR_STATUS_DIGEST_MISMATCH, dr_writer_commit(w, HELLO_WORLD, -1, &out, E));
  dr_writer_free(w);
  EXPECT(DR_STATUS_OK, dr_store_writer(s, "sha512", &w, E));
  EXPECT(DR_STATUS_OK, dr_writer_write(w, (const uint8_t *)"abandoned", 9, E));
  dr_writer_free(w); /* never committed: discarded */
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_writer(s, "md5", &w, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_writer_write(NULL, (const uint8_t *)"x", 1, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_writer_commit(NULL, NULL, -1, &out, E));

  EXPECT(DR_STATUS_OK, dr_store_list(s, &out, E));
  CHECK(out && strcmp(out, "[\"" HELLO "\",\"" HELLO_WORLD "\"]") == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_list(s, NULL, E));

  EXPECT(DR_STATUS_OK, dr_store_delete(s, HELLO, E));
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_delete(s, HELLO, E));
  EXPECT(DR_STATUS_INVALID_DIGEST, dr_store_delete(s, "nope", E));

  /* an image: config, layer, manifest; tags */
  char cfg[128], layer[128], manifest_digest[128];
  put_str(s, "{}", cfg, sizeof cfg);
  put_str(s, "layer-bytes", layer, sizeof layer);
  char manifest[1024];
  snprintf(manifest, sizeof manifest,
           "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
           "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":2},"
           "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":11}]}",
           cfg, layer);
  put_str(s, manifest, manifest_digest, sizeof manifest_digest);
  EXPECT(DR_STATUS_OK, dr_store_tag(s, "v1", manifest_digest, E));
  EXPECT(DR_STATUS_INVALID_TAG, dr_store_tag(s, "bad tag!", manifest_digest, E));
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_tag(s, "v2", HELLO, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_tag(s, NULL, manifest_digest, E));
  EXPECT(DR_STATUS_OK, dr_store_tags(s, &out, E));
  CHECK(out && strstr(out, "\"name\":\"v1\"") && strstr(out, manifest_digest));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_resolve(s, "v1", &out, E));
  CHECK(out && strcmp(out, manifest_digest) == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_resolve(s, "v9", &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_tags(NULL, &out, E));

  /* verify (scrub), with progress and cancellation */
  progress_calls = 0;
  cancel_after = 0;
  EXPECT(DR_STATUS_OK, dr_store_scrub(s, "{\"threads\":1}", on_progress, &progress_calls, &out, E));
  CHECK(out && strstr(out, "\"checked\":4") && strstr(out, "\"corrupt\":[]") && strstr(out, "\"clean\":true"));
  CHECK(progress_calls >= 1);
  dr_string_free(out);
  out = NULL;
  progress_calls = 0;
  cancel_after = 1;
  EXPECT(DR_STATUS_CANCELLED, dr_store_scrub(s, NULL, on_progress, &progress_calls, &out, E));
  CHECK(progress_calls == 1 && out == NULL);
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_scrub(s, "{\"threads\":\"many\"}", NULL, NULL, &out, E));

  /* gc: with no grace, the untagged "hello world" goes; the image stays */
  cancel_after = 0;
  EXPECT(DR_STATUS_OK, dr_store_gc(s, "{\"graceSeconds\":0,\"dryRun\":true}", NULL, NULL, &out, E));
  CHECK(out && strstr(out, "\"dryRun\":true") && strstr(out, "\"deleted\":[\"" HELLO_WORLD "\"]"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_gc(s, "{\"graceSeconds\":0}", on_progress, &progress_calls, &out, E));
  CHECK(out && strstr(out, "\"deleted\":[\"" HELLO_WORLD "\"]") && strstr(out, "\"reachable\":3"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_has(s, HELLO_WORLD, &present, E));
  CHECK(!present);
  EXPECT(DR_STATUS_OK, dr_store_gc(s, NULL, NULL, NULL, &out, E));
  CHECK(out && strstr(out, "\"deleted\":[]"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_gc(s, "[]", NULL, NULL, &out, E));

  /* export: folder and tar; a cancelled tar export leaves no file */
  char *exp_dir = path_in_work("export-dir");
  char *tar = path_in_work("bundle.tar");
  char *cancelled_tar = path_in_work("cancelled.tar");
  EXPECT(DR_STATUS_OK, dr_store_export(s, exp_dir, NULL, NULL, NULL, &out, E));
  CHECK(out && strstr(out, "\"tags\":[\"v1\"]") && strstr(out, "\"blobs\":3"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_export(s, tar, "{\"tar\":true,\"tags\":[\"v1\"]}", on_progress, &progress_calls, &out, E));
  CHECK(out && strstr(out, "\"blobs\":3"));
  dr_string_free(out);
  out = NULL;
  /* an existing tar file is refused unless overwrite is asked */
  EXPECT(DR_STATUS_ALREADY_EXISTS, dr_store_export(s, tar, "{\"tar\":true}", NULL, NULL, &out, E));
  CHECK(out == NULL);
  EXPECT(DR_STATUS_OK, dr_store_export(s, tar, "{\"tar\":true,\"overwrite\":true}", NULL, NULL, &out, E));
  CHECK(out && strstr(out, "\"blobs\":3"));
  dr_string_free(out);
  out = NULL;
  progress_calls = 0;
  cancel_after = 1;
  EXPECT(DR_STATUS_CANCELLED, dr_store_export(s, cancelled_tar, "{\"tar\":true}", on_progress, &progress_calls, &out, E));
  struct stat st;
  CHECK(stat(cancelled_tar, &st) != 0);
  cancel_after = 0;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_export(s, cancelled_tar, "{\"tar\":true,\"tags\":[\"v7\"]}", NULL, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_export(s, NULL, NULL, NULL, NULL, &out, E));

  /* import into a second store: cancelled leaves it empty; then the whole image */
  char *dir2 = path_in_work("store2");
  dr_store *s2 = NULL;
  EXPECT(DR_STATUS_OK, dr_store_open(dir2, NULL, &s2, E));
  progress_calls = 0;
  cancel_after = 1;
  EXPECT(DR_STATUS_CANCELLED, dr_store_import(s2, tar, NULL, on_progress, &progress_calls, &out, E));
  EXPECT(DR_STATUS_OK, dr_store_tags(s2, &out, E));
  CHECK(out && strcmp(out, "[]") == 0);
  dr_string_free(out);
  out = NULL;
  cancel_after = 0;
  EXPECT(DR_STATUS_OK, dr_store_import(s2, tar, "{\"requireComplete\":true}", on_progress, &progress_calls, &out, E));
  CHECK(out && strstr(out, "\"blobsAdded\":3") && strstr(out, "\"tags\":[\"v1\"]"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_import(s2, exp_dir, NULL, NULL, NULL, &out, E));
  CHECK(out && strstr(out, "\"blobsAdded\":0") && strstr(out, "\"blobsPresent\":3"));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_resolve(s2, "v1", &out, E));
  CHECK(out && strcmp(out, manifest_digest) == 0);
  dr_string_free(out);
  out = NULL;
  char *missing = path_in_work("no-such-bundle.tar");
  EXPECT(DR_STATUS_IO, dr_store_import(s2, missing, NULL, NULL, NULL, &out, E));
  char *garbage = path_in_work("garbage.tar");
  write_file(garbage, "this is not a tar archive at all, just text that goes on and on");
  dr_status g = dr_store_import(s2, garbage, NULL, NULL, NULL, &out, NULL);
  CHECK(g == DR_STATUS_IMPORT_REFUSED || g == DR_STATUS_INVALID_LAYOUT);
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import(s2, tar, "{\"requireComplete\":1}", NULL, NULL, &out, E));
  CHECK(out == NULL);

  EXPECT(DR_STATUS_OK, dr_store_untag(s2, "v1", E));
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_untag(s2, "v1", E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_untag(s2, NULL, E));

  test_uploads_and_completeness(s);

  dr_store_free(s2);
  dr_store_free(s);
  free(dir);
  free(dir2);
  free(exp_dir);
  free(tar);
  free(cancelled_tar);
  free(missing);
  free(garbage);
}

/* A store holding one image tagged `tag` in the root repository whose layer is `layer_text`;
 * `manifest_digest` receives the manifest's digest. */
static dr_store *image_store(const char *name, const char *layer_text, const char *tag,
                             char *manifest_digest, size_t cap) {
  char *dir = path_in_work(name);
  dr_store *s = NULL;
  EXPECT(DR_STATUS_OK, dr_store_open(dir, "{\"durability\":\"relaxed\"}", &s, E));
  free(dir);
  char cfg[128], layer[128], manifest[1024];
  put_str(s, "{}", cfg, sizeof cfg);
  put_str(s, layer_text, layer, sizeof layer);
  snprintf(manifest, sizeof manifest,
           "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
           "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":2},"
           "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu}]}",
           cfg, layer, strlen(layer_text));
  put_str(s, manifest, manifest_digest, cap);
  EXPECT(DR_STATUS_OK, dr_store_tag(s, tag, manifest_digest, E));
  return s;
}

/* A copy of the store's blob list and tags, to show a refused call changed nothing. */
static char *snapshot(dr_store *s) {
  char *blobs = NULL, *tags = NULL, *both = NULL;
  EXPECT(DR_STATUS_OK, dr_store_list(s, &blobs, E));
  EXPECT(DR_STATUS_OK, dr_store_tags(s, &tags, E));
  if (asprintf(&both, "%s %s", blobs ? blobs : "", tags ? tags : "") < 0) exit(2);
  dr_string_free(blobs);
  dr_string_free(tags);
  return both;
}

/* Flips one byte of the first occurrence of `needle` in a file; returns whether it was found. */
static int tamper(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n);
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  char *at = memmem(buf, got, needle, strlen(needle));
  if (at) {
    at[0] ^= 0x20;
    f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, got, f) != got) exit(2);
    fclose(f);
  }
  free(buf);
  return at != NULL;
}

/* Bundles: export from one store and import into another; refused imports (a tampered layer,
 * a tag that would move) leave the target unchanged; pin, unpin, forget; NULL arguments. */
static void test_bundles(void) {
  char v1[128], v1_moved[128];
  char *out = NULL;
  dr_store *a = image_store("bundle-a", "bundle-layer-one", "v1", v1, sizeof v1);
  dr_store *moved = image_store("bundle-moved", "bundle-layer-two", "v1", v1_moved, sizeof v1_moved);
  char *bundle = path_in_work("bundle-out");
  char *moved_bundle = path_in_work("bundle-moved-out");
  char *tampered = path_in_work("bundle-tampered");

  EXPECT(DR_STATUS_OK, dr_store_export_bundle(a, bundle, NULL, &out, E));
  CHECK(out && strstr(out, "\"files\":[\"platform.tar\"]") && strstr(out, "\"layouts\":[\"\"]") &&
        strstr(out, "\"images\":1") && strstr(out, "\"blobs\":3"));
  dr_string_free(out);
  out = NULL;
  /* the target is not empty now */
  EXPECT(DR_STATUS_INVALID_LAYOUT, dr_store_export_bundle(a, bundle, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_export_bundle(a, tampered, "{\"repo\":[]}", &out, E));
  CHECK(out == NULL && strstr(last_message, "unknown field `repo`"));
  EXPECT(DR_STATUS_OK, dr_store_export_bundle(a, tampered, "{\"tags\":[\"v1\"]}", &out, E));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_export_bundle(a, moved_bundle, "{\"tags\":[\"v9\"]}", &out, E));
  EXPECT(DR_STATUS_OK, dr_store_export_bundle(moved, moved_bundle, NULL, &out, E));
  dr_string_free(out);
  out = NULL;

  char *dir_b = path_in_work("bundle-b");
  dr_store *b = NULL;
  EXPECT(DR_STATUS_OK, dr_store_open(dir_b, NULL, &b, E));
  free(dir_b);

  /* a cancelled import and a tampered layer leave the store empty */
  char *empty = snapshot(b);
  progress_calls = 0;
  cancel_after = 1;
  EXPECT(DR_STATUS_CANCELLED, dr_store_import_bundle(b, bundle, NULL, on_progress, &progress_calls, &out, E));
  CHECK(out == NULL && progress_calls == 1);
  cancel_after = 0;
  char *tampered_tar = path_in_work("bundle-tampered/platform.tar");
  CHECK(tamper(tampered_tar, "bundle-layer-one"));
  EXPECT(DR_STATUS_IMPORT_REFUSED, dr_store_import_bundle(b, tampered, NULL, NULL, NULL, &out, E));
  CHECK(out == NULL);
  char *now = snapshot(b);
  CHECK(strcmp(now, empty) == 0);
  free(now);

  /* the real one: three blobs, tag v1 at the same digest */
  progress_calls = 0;
  EXPECT(DR_STATUS_OK, dr_store_import_bundle(b, bundle, "{\"requireComplete\":true}", on_progress, &progress_calls, &out, E));
  CHECK(out && strstr(out, "\"tags\":[\"v1\"]") && strstr(out, "\"blobsAdded\":3") &&
        strstr(out, "\"moved\":[]") && strstr(out, "\"repository\":\"\""));
  CHECK(progress_calls >= 1);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_resolve(b, "v1", &out, E));
  CHECK(out && strcmp(out, v1) == 0);
  dr_string_free(out);
  out = NULL;

  /* v1 would move to another digest: refused, the store unchanged, unless overwriteTags */
  char *before = snapshot(b);
  EXPECT(DR_STATUS_IMPORT_REFUSED, dr_store_import_bundle(b, moved_bundle, NULL, NULL, NULL, &out, E));
  CHECK(out == NULL && strstr(last_message, v1) && strstr(last_message, v1_moved));
  now = snapshot(b);
  CHECK(strcmp(now, before) == 0);
  free(now);
  EXPECT(DR_STATUS_OK, dr_store_import_bundle(b, moved_bundle, "{\"overwriteTags\":true}", NULL, NULL, &out, E));
  CHECK(out && strstr(out, "\"moved\":[{\"reference\":\"v1\"") && strstr(out, v1_moved));
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_resolve(b, "v1", &out, E));
  CHECK(out && strcmp(out, v1_moved) == 0);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import_bundle(b, bundle, "{\"overwrite\":true}", NULL, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import_bundle(b, NULL, NULL, NULL, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import_bundle(b, bundle, NULL, NULL, NULL, NULL, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_export_bundle(NULL, bundle, NULL, &out, E));

  /* the old v1 manifest is untagged now: GC would take it; pinned it stays */
  EXPECT(DR_STATUS_OK, dr_store_pin(b, v1, E));
  EXPECT(DR_STATUS_OK, dr_store_gc(b, "{\"graceSeconds\":0}", NULL, NULL, &out, E));
  CHECK(out && strstr(out, v1) == NULL);
  dr_string_free(out);
  out = NULL;
  bool present = false;
  EXPECT(DR_STATUS_OK, dr_store_has(b, v1, &present, E));
  CHECK(present);
  EXPECT(DR_STATUS_OK, dr_store_unpin(b, v1, E));
  EXPECT(DR_STATUS_NOT_FOUND, dr_store_unpin(b, v1, E));
  EXPECT(DR_STATUS_OK, dr_store_pin(b, v1, E));

  /* forget removes its entries; then GC collects it */
  uint64_t count = 99;
  EXPECT(DR_STATUS_INVALID_REPOSITORY, dr_store_forget(b, "Bad Repo!", v1, false, &count, E));
  EXPECT(DR_STATUS_OK, dr_store_forget(b, "install", v1, false, &count, E));
  CHECK(count == 0);
  EXPECT(DR_STATUS_OK, dr_store_forget(b, NULL, v1, true, &count, E));
  CHECK(count == 1);
  EXPECT(DR_STATUS_OK, dr_store_gc(b, "{\"graceSeconds\":0}", NULL, NULL, &out, E));
  CHECK(out && strstr(out, v1) != NULL);
  dr_string_free(out);
  out = NULL;
  EXPECT(DR_STATUS_OK, dr_store_has(b, v1, &present, E));
  CHECK(!present);
  EXPECT(DR_STATUS_OK, dr_store_resolve(b, "v1", &out, E));
  CHECK(out && strcmp(out, v1_moved) == 0);
  dr_string_free(out);
  out = NULL;

  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_pin(NULL, v1, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_pin(b, NULL, E));
  EXPECT(DR_STATUS_INVALID_DIGEST, dr_store_pin(b, "nope", E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_unpin(b, NULL, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_forget(b, NULL, NULL, false, &count, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_forget(b, NULL, v1, false, NULL, E));

  free(empty);
  free(before);
  free(tampered_tar);
  free(bundle);
  free(moved_bundle);
  free(tampered);
  dr_store_free(b);
  dr_store_free(moved);
  dr_store_free(a);
}

/* A bundle tar fed to dr_store_import_bundle_stream from a file, in small reads of odd sizes
 * that cycle (never more than the library's buffer); with fail_after >= 0 the callback returns
 * fail_code once that many bytes were delivered. */
struct file_stream {
  FILE *f;
  long fail_after;
  int fail_code;
  size_t delivered;
  size_t calls;
  int overrun;
};

static int read_stream(uint8_t *buf, size_t len, size_t *out_n, void *user_data) {
  static const size_t sizes[] = {7, 1, 333, 4093, 512, 61};
  struct file_stream *s = user_data;
  CHECK(buf != NULL && len > 0 && out_n != NULL);
  size_t want = sizes[s->calls++ % (sizeof sizes / sizeof sizes[0])];
  if (s->fail_after >= 0 && s->delivered >= (size_t)s->fail_after) return s->fail_code;
  if (s->overrun) {
    *out_n = len + 1;
    return 0;
  }
  if (want > len) want = len;
  if (s->fail_after >= 0 && want > (size_t)s->fail_after - s->delivered) want = (size_t)s->fail_after - s->delivered;
  size_t n = fread(buf, 1, want, s->f);
  if (n == 0 && ferror(s->f)) return EIO;
  s->delivered += n;
  *out_n = n;
  return 0;
}

/* Every file (with its size) and folder under a store root, to show a failed import changed
 * nothing on disk, staging included. */
static char tree_buf[65536];
static size_t tree_root_len;

static int tree_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)ftw;
  size_t used = strlen(tree_buf);
  snprintf(tree_buf + used, sizeof tree_buf - used, "%s%s:%lld\n", path + tree_root_len,
           type == FTW_D ? "/" : "", type == FTW_F ? (long long)st->st_size : 0LL);
  return 0;
}

static char *tree(const char *dir) {
  tree_buf[0] = '\0';
  tree_root_len = strlen(dir);
  CHECK(nftw(dir, tree_entry, 16, FTW_PHYS) == 0);
  return strdup(tree_buf);
}

/* Checks that the files and folders under `dir` are still `before` (a `tree`). */
static void check_tree_unchanged(const char *dir, const char *before) {
  char *now = tree(dir);
  CHECK(strcmp(now, before) == 0);
  free(now);
}

/* Importing a bundle stream: the same report as the path import of the same tar, read in small
 * odd-sized pieces; a callback failing midway is DR_STATUS_IO naming the stream and the code,
 * with the store unchanged (files and staging); NULL and lying callbacks are refused. */
static void test_bundle_stream(void) {
  char v1[128];
  char *out = NULL, *by_path = NULL, *by_stream = NULL;
  dr_store *a = image_store("stream-a", "stream-layer-one", "v1", v1, sizeof v1);
  char *bundle = path_in_work("stream-bundle");
  EXPECT(DR_STATUS_OK, dr_store_export_bundle(a, bundle, NULL, &out, E));
  dr_string_free(out);
  out = NULL;
  char *tar = path_in_work("stream-bundle/platform.tar");
  char *dir_p = path_in_work("stream-by-path"), *dir_s = path_in_work("stream-by-stream");
  dr_store *p = NULL, *s = NULL;
  EXPECT(DR_STATUS_OK, dr_store_open(dir_p, NULL, &p, E));
  EXPECT(DR_STATUS_OK, dr_store_open(dir_s, NULL, &s, E));
  EXPECT(DR_STATUS_OK, dr_store_import_bundle(p, tar, NULL, NULL, NULL, &by_path, E));

  /* a callback failing midway (after the first entry's header): the store unchanged */
  char *empty = tree(dir_s);
  struct file_stream fs = {fopen(tar, "rb"), 1500, EIO, 0, 0, 0};
  CHECK(fs.f != NULL);
  EXPECT(DR_STATUS_IO, dr_store_import_bundle_stream(s, read_stream, &fs, "platform.tar", NULL, NULL, NULL, &out, E));
  CHECK(out == NULL && strstr(last_message, "stream `platform.tar`") && strstr(last_message, "returned 5") &&
        strstr(last_message, "after 1500 bytes"));
  fclose(fs.f);
  check_tree_unchanged(dir_s, empty);
  /* failing on the very first read, unnamed */
  struct file_stream first = {fopen(tar, "rb"), 0, -7, 0, 0, 0};
  EXPECT(DR_STATUS_IO, dr_store_import_bundle_stream(s, read_stream, &first, NULL, NULL, NULL, NULL, &out, E));
  CHECK(strstr(last_message, "the stream") && strstr(last_message, "returned -7 after 0 bytes") && first.calls == 1);
  fclose(first.f);
  /* a callback claiming more bytes than the buffer holds */
  struct file_stream liar = {fopen(tar, "rb"), -1, 0, 0, 0, 1};
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import_bundle_stream(s, read_stream, &liar, "", NULL, NULL, NULL, &out, E));
  CHECK(strstr(last_message, "bytes read into a buffer of") != NULL);
  fclose(liar.f);
  check_tree_unchanged(dir_s, empty);

  /* cancelled by the progress callback: the store unchanged too */
  struct file_stream cancelled = {fopen(tar, "rb"), -1, 0, 0, 0, 0};
  progress_calls = 0;
  cancel_after = 1;
  EXPECT(DR_STATUS_CANCELLED, dr_store_import_bundle_stream(s, read_stream, &cancelled, "platform.tar", NULL, on_progress,
                                                            &progress_calls, &out, E));
  CHECK(out == NULL && progress_calls == 1);
  fclose(cancelled.f);
  check_tree_unchanged(dir_s, empty);

  /* the whole tar, in odd-sized reads: the path import's report */
  struct file_stream whole = {fopen(tar, "rb"), -1, 0, 0, 0, 0};
  progress_calls = 0;
  cancel_after = 0;
  EXPECT(DR_STATUS_OK, dr_store_import_bundle_stream(s, read_stream, &whole, "platform.tar", "{\"requireComplete\":true}",
                                                     on_progress, &progress_calls, &by_stream, E));
  CHECK(by_path && by_stream && strcmp(by_path, by_stream) == 0);
  CHECK(by_stream && strstr(by_stream, "\"tags\":[\"v1\"]") && strstr(by_stream, "\"blobsAdded\":3"));
  /* more than one cycle of read sizes, never past the file */
  struct stat tar_st;
  CHECK(stat(tar, &tar_st) == 0);
  CHECK(whole.calls > 6 && whole.delivered <= (size_t)tar_st.st_size && progress_calls >= 1);
  fclose(whole.f);
  EXPECT(DR_STATUS_OK, dr_store_resolve(s, "v1", &out, E));
  CHECK(out && strcmp(out, v1) == 0);
  dr_string_free(out);
  out = NULL;
  char *ps = snapshot(p), *ss = snapshot(s);
  CHECK(strcmp(ps, ss) == 0);
  free(ps);
  free(ss);

  /* NULL callback, store, out-parameter; options checked as for the path import */
  struct file_stream unused = {NULL, -1, 0, 0, 0, 0};
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import_bundle_stream(s, NULL, &unused, "x.tar", NULL, NULL, NULL, &out, E));
  CHECK(out == NULL && strstr(last_message, "stream is NULL"));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import_bundle_stream(NULL, read_stream, &unused, NULL, NULL, NULL, NULL, &out, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import_bundle_stream(s, read_stream, &unused, NULL, NULL, NULL, NULL, NULL, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_store_import_bundle_stream(s, read_stream, &unused, NULL, "{\"overwrite\":true}", NULL, NULL, &out, E));
  CHECK(strstr(last_message, "unknown field `overwrite`") && unused.calls == 0);
  CHECK(dr_store_import_bundle_stream(s, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) == DR_STATUS_INVALID_ARGUMENT);

  free(empty);
  dr_string_free(by_path);
  dr_string_free(by_stream);
  dr_store_free(s);
  dr_store_free(p);
  dr_store_free(a);
  free(dir_p);
  free(dir_s);
  free(tar);
  free(bundle);
}

/* Hostile rendered sets: a path out of the root, a bad host folder name, a link under the root.
 * Each is refused as an invalid argument naming the path, and the file outside stays as it was. */
static void test_apply_hostile(void) {
  char *node = path_in_work("hostile-node");
  char *outside = path_in_work("outside-x");
  FILE *f = fopen(outside, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("keep", f);
    fclose(f);
  }
  /* node/etc/containerd/registry.d/../../../../outside-x is WORK/outside-x. */
  const char *sets[] = {
      "{\"version\":\"v\",\"configPath\":\"/etc/containerd/registry.d\",\"hostDirs\":[],\"warnings\":[],"
      "\"files\":[{\"path\":\"/etc/containerd/registry.d/../../../../outside-x\",\"contents\":\"owned\","
      "\"mode\":\"0644\"}]}",
      "{\"version\":\"v\",\"configPath\":\"/etc/containerd/registry.d\",\"hostDirs\":[],\"warnings\":[],"
      "\"files\":[{\"path\":\"/../outside-x\",\"contents\":\"owned\",\"mode\":\"0644\"}]}",
      "{\"version\":\"v\",\"configPath\":\"/etc/containerd/registry.d\",\"hostDirs\":[\"../../../..\"],"
      "\"warnings\":[],\"files\":[]}",
  };
  const char *named[] = {"../../../../outside-x", "/../outside-x", "../../../.."};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    char *report = NULL;
    last_message[0] = '\0';
    EXPECT(DR_STATUS_APPLY_REFUSED, dr_apply(sets[i], node, &report, E));
    CHECK(report == NULL);
    CHECK(strstr(last_message, named[i]) != NULL && strstr(last_message, "refused") != NULL);
  }
  size_t len = 0;
  f = fopen(outside, "r");
  char buf[64] = {0};
  if (f) {
    len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
  }
  CHECK(len == 4 && strcmp(buf, "keep") == 0);
  free(outside);
  free(node);
}

/* The config.toml part merged into a main config.toml (containerd 1.x). */
static void test_merge_config(void) {
  const char *main_toml = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause\"\n";
  const char *part = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/r\"\n";
  char *merged = NULL;
  EXPECT(DR_STATUS_OK, dr_merge_config(main_toml, part, &merged, E));
  CHECK(merged && strstr(merged, "sandbox_image = \"pause\"") && strstr(merged, "config_path = \"/r\""));
  dr_string_free(merged);
  merged = NULL;
  EXPECT(DR_STATUS_INVALID_DOCUMENT, dr_merge_config("version = 3\n", part, &merged, E));
  CHECK(merged == NULL && strstr(last_message, "version 3") != NULL);
  EXPECT(DR_STATUS_INVALID_DOCUMENT, dr_merge_config("[x\n", part, &merged, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_merge_config(main_toml, NULL, &merged, E));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_merge_config(main_toml, part, NULL, E));
  CHECK(merged == NULL);
}

/* One orchestrator step (DOMAIN.md §6.2-6.3): from no state, the first stage of the Direct
 * pipeline (the image checker) has not reported, so it is the pending condition and the module
 * is not Ready; legacy Unmanaged has no pipeline and is Ready at once. */
static void test_reconcile(void) {
  const char *direct =
      "{\"settings\":{\"mode\":\"Direct\",\"upstream\":{\"host\":\"registry.example.com\","
      "\"path\":\"/deckhouse/ee\",\"scheme\":\"HTTPS\"}}}";
  const char *options = "{\"now\":\"2026-12-01T10:00:00Z\",\"seed\":7}";
  char *step = NULL;
  EXPECT(DR_STATUS_OK, dr_reconcile(NULL, direct, options, &step, E));
  CHECK(step && strstr(step, "\"ready\":false") && strstr(step, "\"message\":\"Transitioning to Direct\""));
  CHECK(step && strstr(step, "{\"type\":\"RegistryContainsRequiredImages\",\"status\":\"False\","
                              "\"reason\":\"Processing\",\"message\":\"Initializing\","
                              "\"lastTransitionTime\":\"2026-12-01T10:00:00Z\"}"));
  /* The mode changes only when the pipeline is done; the target is recorded. */
  CHECK(step && strstr(step, "\"mode\":\"Unmanaged\"") && strstr(step, "\"target_mode\":\"Direct\""));
  /* Direct is managed: the CA is generated with the first step. */
  CHECK(step && strstr(step, "\"ca\":{\"cert\":\"-----BEGIN CERTIFICATE-----"));
  /* "{}" is no state too, and the same seed and clock give the same step. */
  char *again = NULL;
  EXPECT(DR_STATUS_OK, dr_reconcile("{}", direct, options, &again, E));
  CHECK(step && again && strcmp(step, again) == 0);
  dr_string_free(again);
  dr_string_free(step);
  step = NULL;

  EXPECT(DR_STATUS_OK, dr_reconcile(NULL, "{\"settings\":{\"mode\":\"UnmanagedLegacy\"}}", options, &step, E));
  CHECK(step && strstr(step, "\"ready\":true") && strstr(step, "{\"type\":\"Ready\",\"status\":\"True\""));
  dr_string_free(step);
  step = NULL;

  /* Bad documents name the argument and the field; nothing is written to the out-parameter. */
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reconcile(NULL, "{\"clusterr\":{}}", NULL, &step, E));
  CHECK(step == NULL && strstr(last_message, "inputs_json") && strstr(last_message, "clusterr"));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reconcile("[1]", direct, NULL, &step, E));
  CHECK(step == NULL && strstr(last_message, "state_json"));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reconcile(NULL, direct, "{\"seed\":-1}", &step, E));
  CHECK(step == NULL && strstr(last_message, "options_json"));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reconcile(NULL, direct, "{\"clock\":1}", &step, E));
  CHECK(step == NULL && strstr(last_message, "unknown field `clock`") && strstr(last_message, "seed"));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reconcile(NULL, direct, "{\"now\":\"yesterday\"}", &step, E));
  CHECK(step == NULL && strstr(last_message, "RFC 3339"));
  /* NULL pointers. */
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reconcile(NULL, NULL, NULL, &step, E));
  CHECK(step == NULL && strstr(last_message, "inputs_json is NULL"));
  EXPECT(DR_STATUS_INVALID_ARGUMENT, dr_reconcile(NULL, direct, NULL, NULL, E));
  CHECK(strstr(last_message, "step_json (out-parameter) is NULL"));
  CHECK(dr_reconcile(NULL, NULL, NULL, NULL, NULL) == DR_STATUS_INVALID_ARGUMENT);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s REPO_ROOT WORK_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  work = argv[2];
  test_version_and_names();
  test_null_frees();
  test_validate();
  test_plan();
  test_render_apply();
  test_apply_hostile();
  test_merge_config();
  test_reconcile();
  test_store();
  test_bundles();
  test_bundle_stream();
  printf("C ABI test: %d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
