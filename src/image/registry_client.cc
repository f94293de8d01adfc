#include "image/registry_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/errors.h"
#include "image/auth_challenge.h"

namespace sockerless::image {

namespace {

std::once_flag curl_once;

struct Endpoint {
  std::string base;  // "https://host:port"
  bool verify = true;
  std::string ca_file;
  bool mirror = false;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;
  const std::string* body = nullptr;  // for PUT/POST with a small body
  FILE* upload = nullptr;             // for PUT of a file
  std::uint64_t upload_size = 0;
  const RegistryClient::Sink* sink = nullptr;  // 2xx bodies go here instead of .body
  const RegistryClient::Progress* progress = nullptr;
  const Endpoint* endpoint = nullptr;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  CURLcode transport = CURLE_OK;
  std::string transport_error;
};

struct TransferState {
  HttpResponse* response;
  const HttpRequest* request;
  CURL* curl;
  std::uint64_t received = 0;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    st->response->headers.clear();  // a new response (after a redirect or 100-continue)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    auto b = value.find_first_not_of(" \t");
    auto e = value.find_last_not_of(" \t\r\n");
    value = b == std::string::npos ? "" : value.substr(b, e - b + 1);
    auto& slot = st->response->headers[name];
    slot = slot.empty() ? value : slot + ", " + value;
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  long code = 0;
  curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
  std::size_t len = size * n;
  if (code >= 200 && code < 300 && st->request->sink) {
    try {
      (*st->request->sink)(data, len);
    } catch (...) {
      return 0;  // aborts the transfer; the caller's sink reports its own error
    }
    st->received += len;
    if (st->request->progress && *st->request->progress) {
      curl_off_t total = -1;
      curl_easy_getinfo(st->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total);
      (*st->request->progress)(st->received, total > 0 ? static_cast<std::uint64_t>(total) : 0);
    }
  } else if (st->response->body.size() < (1 << 20)) {
    st->response->body.append(data, len);
  }
  return len;
}

size_t on_read(char* buffer, size_t size, size_t n, void* user) {
  return std::fread(buffer, size, n, static_cast<FILE*>(user));
}

HttpResponse perform(const HttpRequest& req) {
  HttpResponse res;
  CURL* curl = curl_easy_init();
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  TransferState st{&res, &req, curl};
  curl_slist* headers = nullptr;
  for (const auto& h : req.headers)
    headers = curl_slist_append(headers, h.c_str());
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 15L);
  // A stalled transfer (under 1 byte/s for 60 s) is a failure, not a hang.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "sockerless/" SOCKERLESS_VERSION);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (req.endpoint && !req.endpoint->verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (req.endpoint && !req.endpoint->ca_file.empty())
    curl_easy_setopt(curl, CURLOPT_CAINFO, req.endpoint->ca_file.c_str());
  if (req.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (req.upload) {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, req.upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.upload_size));
    if (req.method != "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body->size()));
    if (req.method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (req.method == "POST" || req.method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
  }
  res.transport = curl_easy_perform(curl);
  if (res.transport != CURLE_OK)
    res.transport_error = errbuf[0] ? errbuf : curl_easy_strerror(res.transport);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return res;
}

std::string header(const HttpResponse& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

// The registry's error document, as distribution formats it: "code words: message".
std::string registry_error(const HttpResponse& r) {
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() &&
      !doc["errors"].empty()) {
    std::string out;
    for (const auto& e : doc["errors"]) {
      std::string code = e.value("code", "");
      for (auto& c : code)
        c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string msg = e.value("message", "");
      if (!out.empty()) out += ", ";
      out += code.empty() ? msg : code + ": " + msg;
    }
    return out;
  }
  std::string body = r.body.substr(0, 200);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
    body.pop_back();
  return "unexpected status " + std::to_string(r.status) + (body.empty() ? "" : ": " + body);
}

std::string first_error_code(const HttpResponse& r) {
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() &&
      !doc["errors"].empty())
    return doc["errors"][0].value("code", "");
  return "";
}

bool parse_cidr(const std::string& text, in_addr& net, int& bits) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return false;
  bits = std::atoi(text.c_str() + slash + 1);
  return bits >= 0 && bits <= 32 && ::inet_pton(AF_INET, text.substr(0, slash).c_str(), &net) == 1;
}

bool in_cidr(const in_addr& addr, const in_addr& net, int bits) {
  std::uint32_t mask = bits == 0 ? 0 : htonl(~std::uint32_t{0} << (32 - bits));
  return (addr.s_addr & mask) == (net.s_addr & mask);
}

std::string host_part(const std::string& domain) {
  if (!domain.empty() && domain.front() == '[') return domain.substr(1, domain.find(']') - 1);
  auto colon = domain.rfind(':');
  return colon == std::string::npos ? domain : domain.substr(0, colon);
}

}  // namespace

struct RegistryClient::Impl {
  RegistryConfig config;
  std::mutex mu;
  std::map<std::string, std::string> tokens;     // (endpoint base + scope) -> Authorization
  std::map<std::string, std::size_t> preferred;  // domain -> index of the endpoint that worked

  std::vector<Endpoint> endpoints(const Reference& repo, bool for_push, bool insecure) {
    std::vector<Endpoint> out;
    if (repo.domain == kDefaultDomain) {
      if (!for_push)
        for (auto m : config.mirrors) {
          while (!m.empty() && m.back() == '/')
            m.pop_back();
          out.push_back(Endpoint{m, true, "", true});
        }
      out.push_back(Endpoint{"https://" + registry_host(repo.domain), true, "", false});
      return out;
    }
    std::string ca = config.certs_dir + "/" + repo.domain + "/ca.crt";
    std::error_code ec;
    if (!std::filesystem::exists(ca, ec)) ca.clear();
    out.push_back(Endpoint{"https://" + repo.domain, !insecure, ca, false});
    if (insecure) out.push_back(Endpoint{"http://" + repo.domain, false, "", false});
    return out;
  }

  std::string fetch_token(const Endpoint& ep, const Challenge& ch,
                          const std::vector<std::string>& scopes, const AuthConfig& auth) {
    auto realm = ch.params.find("realm");
    if (realm == ch.params.end())
      throw Unauthorized("registry sent a bearer challenge without a realm");
    CURL* esc = curl_easy_init();
    auto encode = [esc](const std::string& s) {
      char* e = curl_easy_escape(esc, s.c_str(), static_cast<int>(s.size()));
      std::string out = e ? e : "";
      curl_free(e);
      return out;
    };
    std::string query;
    if (auto s = ch.params.find("service"); s != ch.params.end())
      query += "service=" + encode(s->second);
    for (const auto& sc : scopes)
      query += std::string(query.empty() ? "" : "&") + "scope=" + encode(sc);
    HttpRequest req;
    req.endpoint = &ep;
    std::string form;
    if (!auth.identity_token.empty()) {
      // OAuth2 refresh-token grant, as dockerd uses for identity tokens.
      req.method = "POST";
      req.url = realm->second;
      form = "grant_type=refresh_token&client_id=sockerless&refresh_token=" +
             encode(auth.identity_token) + (query.empty() ? "" : "&" + query);
      req.body = &form;
      req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    } else {
      req.url = realm->second + (realm->second.find('?') == std::string::npos ? "?" : "&") + query;
      if (!auth.username.empty())
        req.headers.push_back("Authorization: Basic " +
                              base64_encode(auth.username + ":" + auth.password));
    }
    curl_easy_cleanup(esc);
    HttpResponse res = perform(req);
    if (res.transport != CURLE_OK)
      throw Internal("Get \"" + realm->second + "\": " + res.transport_error);
    if (res.status == 401 || res.status == 403)
      throw Unauthorized("unauthorized: incorrect username or password");
    if (res.status != 200)
      throw Internal("token request to " + realm->second + " failed: " + registry_error(res));
    auto doc = nlohmann::json::parse(res.body, nullptr, false);
    std::string token;
    if (doc.is_object()) token = doc.value("token", doc.value("access_token", ""));
    if (token.empty()) throw Internal("token server " + realm->second + " returned no token");
    return "Bearer " + token;
  }

  // Sends `req` to the endpoint with whatever authorization it needs, answering one
  // challenge. `scopes` name what the token must allow.
  HttpResponse authorized(HttpRequest req, const Endpoint& ep,
                          const std::vector<std::string>& scopes, const AuthConfig& auth,
                          bool use_cache = true) {
    std::string key = ep.base + " " + (scopes.empty() ? "" : scopes.front());
    for (std::size_t i = 1; i < scopes.size(); ++i)
      key += "," + scopes[i];
    // Cached per endpoint, scope AND credentials: one client's login must never
    // authorise another client's request.
    key += " " + sha256_digest(auth.username + '\0' + auth.password + '\0' + auth.identity_token +
                               '\0' + auth.registry_token);
    std::vector<std::string> base_headers = req.headers;
    auto with_auth = [&](const std::string& authz) {
      req.headers = base_headers;
      if (!authz.empty()) req.headers.push_back("Authorization: " + authz);
    };
    if (use_cache) {
      std::lock_guard lock(mu);
      auto it = tokens.find(key);
      if (it != tokens.end()) with_auth(it->second);
    }
    if (!auth.registry_token.empty()) with_auth("Bearer " + auth.registry_token);
    req.endpoint = &ep;
    long upload_pos = req.upload ? std::ftell(req.upload) : 0;
    HttpResponse res = perform(req);
    if (res.transport != CURLE_OK || res.status != 401) return res;
    std::string authz;
    for (const auto& ch : parse_challenges(header(res, "www-authenticate"))) {
      if (ch.scheme == "bearer") {
        authz = fetch_token(ep, ch, scopes, auth);
        break;
      }
      if (ch.scheme == "basic") {
        if (auth.username.empty() && auth.password.empty())
          throw Unauthorized("no basic auth credentials");
        authz = "Basic " + base64_encode(auth.username + ":" + auth.password);
        break;
      }
    }
    if (authz.empty()) return res;
    {
      std::lock_guard lock(mu);
      tokens[key] = authz;
    }
    with_auth(authz);
    if (req.upload) std::fseek(req.upload, upload_pos, SEEK_SET);
    return perform(req);
  }

  // Runs `attempt` against each endpoint in turn until one answers; transport failures
  // (and, for mirrors, any failure) move on to the next.
  template <class F>
  HttpResponse on_endpoints(const Reference& repo, bool for_push, bool insecure, F attempt) {
    auto eps = endpoints(repo, for_push, insecure);
    std::size_t start = 0;
    {
      std::lock_guard lock(mu);
      if (auto it = preferred.find(repo.domain); it != preferred.end() && it->second < eps.size())
        start = it->second;
    }
    HttpResponse last;
    std::string last_url;
    for (std::size_t i = start; i < eps.size(); ++i) {
      last = attempt(eps[i]);
      last_url = eps[i].base;
      if (last.transport != CURLE_OK) {
        spdlog::debug("registry endpoint {}: {}", eps[i].base, last.transport_error);
        continue;
      }
      if (eps[i].mirror && (last.status < 200 || last.status >= 300)) continue;
      std::lock_guard lock(mu);
      preferred[repo.domain] = i;
      return last;
    }
    if (last.transport != CURLE_OK)
      throw Internal("Get \"" + last_url + "/v2/\": " + last.transport_error);
    return last;
  }
};

RegistryClient::RegistryClient(RegistryConfig config) : impl_(std::make_unique<Impl>()) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->config = std::move(config);
}

RegistryClient::~RegistryClient() = default;

bool RegistryClient::is_insecure(const std::string& domain) const {
  for (const auto& entry : impl_->config.insecure)
    if (entry == domain) return true;
  std::string host = host_part(domain);
  std::vector<in_addr> addrs;
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) == 1) {
    addrs.push_back(a);
  } else {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0) {
      for (auto* p = res; p; p = p->ai_next)
        addrs.push_back(reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr);
      ::freeaddrinfo(res);
    }
  }
  std::vector<std::string> cidrs = {"127.0.0.0/8"};
  for (const auto& entry : impl_->config.insecure)
    if (entry.find('/') != std::string::npos) cidrs.push_back(entry);
  for (const auto& c : cidrs) {
    in_addr net{};
    int bits = 0;
    if (!parse_cidr(c, net, bits)) continue;
    for (const auto& addr : addrs)
      if (in_cidr(addr, net, bits)) return true;
  }
  return false;
}

FetchedManifest RegistryClient::manifest(const Reference& repo, const std::string& tag_or_digest,
                                         const AuthConfig& auth) {
  std::vector<std::string> scopes = {"repository:" + repo.path + ":pull"};
  std::string shown =
      repo.familiar_name() + (tag_or_digest.rfind("sha256:", 0) == 0 ? "@" : ":") + tag_or_digest;
  HttpResponse res =
      impl_->on_endpoints(repo, false, is_insecure(repo.domain), [&](const Endpoint& ep) {
        HttpRequest req;
        req.url = ep.base + "/v2/" + repo.path + "/manifests/" + tag_or_digest;
        req.headers = {std::string("Accept: ") + kDockerManifest,
                       std::string("Accept: ") + kDockerManifestList,
                       std::string("Accept: ") + kOciManifest, std::string("Accept: ") + kOciIndex};
        return impl_->authorized(req, ep, scopes, auth);
      });
  if (res.status == 404) {
    std::string code = first_error_code(res);
    if (code == "NAME_UNKNOWN")
      throw NotFound("repository " + repo.familiar_name() + " not found: " + registry_error(res));
    throw NotFound("manifest for " + shown + " not found: " + registry_error(res));
  }
  if (res.status == 401 || res.status == 403) {
    // dockerd words it as "pull access denied" only for the registry's DENIED code.
    if (first_error_code(res) == "DENIED")
      throw Unauthorized(
          "pull access denied for " + repo.familiar_name() +
          ", repository does not exist or may require 'docker login': " + registry_error(res));
    throw Unauthorized(registry_error(res));
  }
  if (res.status != 200)
    throw Internal("fetching manifest for " + shown + ": " + registry_error(res));
  FetchedManifest m;
  m.body = std::move(res.body);
  m.digest = sha256_digest(m.body);
  m.media_type = header(res, "content-type");
  if (auto semi = m.media_type.find(';'); semi != std::string::npos) m.media_type.resize(semi);
  if (tag_or_digest.rfind("sha256:", 0) == 0 && m.digest != tag_or_digest)
    throw InvalidArgument("manifest verification failed for digest " + tag_or_digest + " (got " +
                          m.digest + ")");
  // Some registries answer with a generic type: trust the document's own mediaType.
  auto doc = nlohmann::json::parse(m.body, nullptr, false);
  if (doc.is_object() && doc.contains("mediaType") && doc["mediaType"].is_string())
    m.media_type = doc["mediaType"].get<std::string>();
  else if (doc.is_object() && (m.media_type.empty() || m.media_type == "application/json"))
    m.media_type = doc.contains("manifests") ? kOciIndex : kOciManifest;
  return m;
}

void RegistryClient::blob(const Reference& repo, const std::string& digest, const AuthConfig& auth,
                          const Sink& sink, const Progress& progress) {
  std::vector<std::string> scopes = {"repository:" + repo.path + ":pull"};
  HttpResponse res =
      impl_->on_endpoints(repo, false, is_insecure(repo.domain), [&](const Endpoint& ep) {
        HttpRequest req;
        req.url = ep.base + "/v2/" + repo.path + "/blobs/" + digest;
        req.sink = &sink;
        req.progress = &progress;
        return impl_->authorized(req, ep, scopes, auth);
      });
  if (res.status == 404) throw NotFound("blob " + digest + " not found: " + registry_error(res));
  if (res.status == 401 || res.status == 403) throw Unauthorized(registry_error(res));
  if (res.status != 200) throw Internal("fetching blob " + digest + ": " + registry_error(res));
}

std::vector<std::string> RegistryClient::tags(const Reference& repo, const AuthConfig& auth) {
  std::vector<std::string> scopes = {"repository:" + repo.path + ":pull"};
  std::vector<std::string> out;
  std::string next = "/v2/" + repo.path + "/tags/list";
  while (!next.empty()) {
    HttpResponse res =
        impl_->on_endpoints(repo, false, is_insecure(repo.domain), [&](const Endpoint& ep) {
          HttpRequest req;
          req.url = ep.base + next;
          return impl_->authorized(req, ep, scopes, auth);
        });
    if (res.status == 404)
      throw NotFound("repository " + repo.familiar_name() + " not found: " + registry_error(res));
    if (res.status == 401 || res.status == 403) throw Unauthorized(registry_error(res));
    if (res.status != 200)
      throw Internal("listing tags of " + repo.familiar_name() + ": " + registry_error(res));
    auto doc = nlohmann::json::parse(res.body, nullptr, false);
    if (doc.is_object() && doc.contains("tags") && doc["tags"].is_array())
      for (const auto& t : doc["tags"])
        if (t.is_string()) out.push_back(t.get<std::string>());
    // Link: </v2/…?n=…&last=…>; rel="next"
    next.clear();
    std::string link = header(res, "link");
    auto lt = link.find('<'), gt = link.find('>');
    if (lt != std::string::npos && gt != std::string::npos &&
        link.find("rel=\"next\"") != std::string::npos)
      next = link.substr(lt + 1, gt - lt - 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool RegistryClient::has_blob(const Reference& repo, const std::string& digest,
                              const AuthConfig& auth) {
  std::vector<std::string> scopes = {"repository:" + repo.path + ":pull,push"};
  HttpResponse res =
      impl_->on_endpoints(repo, true, is_insecure(repo.domain), [&](const Endpoint& ep) {
        HttpRequest req;
        req.method = "HEAD";
        req.url = ep.base + "/v2/" + repo.path + "/blobs/" + digest;
        return impl_->authorized(req, ep, scopes, auth);
      });
  if (res.status == 401 || res.status == 403) throw Unauthorized(registry_error(res));
  return res.status == 200;
}

namespace {

std::string absolute_location(const std::string& base, const std::string& location) {
  if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0) return location;
  return base + location;
}

}  // namespace

bool RegistryClient::mount_blob(const Reference& repo, const std::string& digest,
                                const Reference& from, const AuthConfig& auth) {
  if (from.domain != repo.domain || from.path == repo.path) return false;
  std::vector<std::string> scopes = {"repository:" + repo.path + ":pull,push",
                                     "repository:" + from.path + ":pull"};
  HttpResponse res =
      impl_->on_endpoints(repo, true, is_insecure(repo.domain), [&](const Endpoint& ep) {
        HttpRequest req;
        req.method = "POST";
        req.url =
            ep.base + "/v2/" + repo.path + "/blobs/uploads/?mount=" + digest + "&from=" + from.path;
        return impl_->authorized(req, ep, scopes, auth);
      });
  return res.status == 201;
}

void RegistryClient::upload_blob(const Reference& repo, const std::string& digest,
                                 const std::string& path, std::uint64_t size,
                                 const AuthConfig& auth, const Progress& progress) {
  std::vector<std::string> scopes = {"repository:" + repo.path + ":pull,push"};
  std::string base;
  HttpResponse start =
      impl_->on_endpoints(repo, true, is_insecure(repo.domain), [&](const Endpoint& ep) {
        base = ep.base;
        HttpRequest req;
        req.method = "POST";
        req.url = ep.base + "/v2/" + repo.path + "/blobs/uploads/";
        return impl_->authorized(req, ep, scopes, auth);
      });
  if (start.status == 401 || start.status == 403) throw Unauthorized(registry_error(start));
  if (start.status != 202)
    throw Internal("starting upload of " + digest + ": " + registry_error(start));
  std::string location = absolute_location(base, header(start, "location"));
  location +=
      (location.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  HttpRequest put;
  put.method = "PUT";
  put.url = location;
  put.upload = f;
  put.upload_size = size;
  put.headers = {"Content-Type: application/octet-stream"};
  auto eps = impl_->endpoints(repo, true, is_insecure(repo.domain));
  Endpoint ep = eps.front();
  for (const auto& e : eps)
    if (e.base == base) ep = e;
  HttpResponse res = impl_->authorized(put, ep, scopes, auth);
  std::fclose(f);
  if (res.transport != CURLE_OK) throw Internal("uploading " + digest + ": " + res.transport_error);
  if (res.status != 201) throw Internal("uploading " + digest + ": " + registry_error(res));
  if (progress) progress(size, size);
}

std::string RegistryClient::put_manifest(const Reference& repo, const std::string& tag_or_digest,
                                         const std::string& media_type, const std::string& body,
                                         const AuthConfig& auth) {
  std::vector<std::string> scopes = {"repository:" + repo.path + ":pull,push"};
  HttpResponse res =
      impl_->on_endpoints(repo, true, is_insecure(repo.domain), [&](const Endpoint& ep) {
        HttpRequest req;
        req.method = "PUT";
        req.url = ep.base + "/v2/" + repo.path + "/manifests/" + tag_or_digest;
        req.body = &body;
        req.headers = {"Content-Type: " + media_type};
        return impl_->authorized(req, ep, scopes, auth);
      });
  if (res.status == 401 || res.status == 403) throw Unauthorized(registry_error(res));
  if (res.status != 201 && res.status != 200)
    throw Internal("pushing manifest: " + registry_error(res));
  std::string digest = header(res, "docker-content-digest");
  return digest.empty() ? sha256_digest(body) : digest;
}

void RegistryClient::check_login(const std::string& domain, const AuthConfig& auth) {
  Reference probe;
  probe.domain = domain;
  probe.path = "";
  std::vector<std::string> scopes;
  std::string url;
  HttpResponse res = impl_->on_endpoints(probe, true, is_insecure(domain), [&](const Endpoint& ep) {
    HttpRequest req;
    url = ep.base + "/v2/";
    req.url = url;
    return impl_->authorized(req, ep, scopes, auth, false);
  });
  if (res.status == 401 || res.status == 403)
    throw Unauthorized("login attempt to " + url +
                       " failed with status: " + std::to_string(res.status) + " " +
                       (res.status == 401 ? "Unauthorized" : "Forbidden"));
  if (res.status != 200)
    throw Internal("login attempt to " + url + " failed: " + registry_error(res));
}

}  // namespace sockerless::image
