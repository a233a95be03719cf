// czifs command line: thin glue over the core library.
//
// Exit codes: 0 success; 1 some input could not be read or written (every
// problem printed, one line each); 2 bad usage; 3 the mount failed (mount
// point missing, stale or busy, no /dev/fuse).
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "czifs/codec.h"
#include "czifs/export.h"
#include "czifs/memory_limit.h"
#include "czifs/mount.h"
#include "czifs/tiff_layout.h"
#include "czifs/tree.h"
#include "czifs/version.h"

namespace {

constexpr int kExitProblems = 1;
constexpr int kExitUsage = 2;

constexpr const char* kWithoutHelp =
    "Leave out derived views that repeat the planes' pixels: tiles, pyramid, hyperstacks, "
    "zarr, ometiff (comma-separated), e.g. to export planes only";

// --zarr-chunk, for the mount and export alike.
void AddZarrChunkOption(CLI::App* app, czifs::CatalogOptions* shown) {
  using czifs::CatalogOptions;
  app->add_option("--zarr-chunk", shown->zarr_chunk,
                  fmt::format("Side of an OME-Zarr chunk in pixels, {} to {} (planes smaller than "
                              "a chunk are stacked along z, to about N x N pixels a chunk)",
                              CatalogOptions::kMinZarrChunk, CatalogOptions::kMaxZarrChunk))
      ->check(CLI::Range(CatalogOptions::kMinZarrChunk, CatalogOptions::kMaxZarrChunk))
      ->capture_default_str();
}

// Checks a --without list.
CLI::Validator WithoutList() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        czifs::CatalogOptions ignored;
        std::string why;
        return czifs::ParseWithout(value, &ignored, &why) ? std::string() : why;
      },
      "LIST");
}

// Maps a name to its enum value (the names are the only values accepted).
template <typename E, size_t N>
CLI::Validator OneOf(const czifs::EnumNames<E, N>& names) {
  const std::string list = czifs::EnumNameList(names);
  return CLI::Validator(
      [&names, list](std::string& value) -> std::string {
        E parsed;
        if (!czifs::ParseEnumName(names, value, &parsed))
          return "'" + value + "': use one of " + list;
        value = std::to_string(static_cast<int>(parsed));
        return "";
      },
      "{" + list + "}");
}

// Reads "512M", "2G", "1048576" into a byte count: the same syntax as -o cache_size=.
CLI::Validator ByteSize(bool zero_allowed = false) {
  return CLI::Validator(
      [zero_allowed](std::string& value) -> std::string {
        uint64_t bytes = 0;
        if (!czifs::ParseByteSize(value, &bytes) || (bytes == 0 && !zero_allowed)) {
          return "cannot read '" + value + "' (use e.g. 512M or 2G)";
        }
        value = std::to_string(bytes);
        return "";
      },
      "SIZE");
}

// Prints one line and returns the usage exit code.
int Usage(const std::string& line) {
  std::fprintf(stderr, "czifs: %s\n", line.c_str());
  return kExitUsage;
}

// A source or target path as the mount and the export name it: absolute,
// so "a/", "a/." and "a" are one source, named "a" (the daemon changes to "/").
std::string NormalPath(const std::string& p) {
  namespace fs = std::filesystem;
  std::string s = fs::absolute(p).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

constexpr const char* kLogLevels = "trace, debug, info, warn, error, off";

// --log-level for inspect and export (the mount checks its own with -o log_level=).
void AddLogLevelOption(CLI::App* app, std::string* level) {
  app->add_option("--log-level", *level, kLogLevels)
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
}

std::string VersionText() {
  std::string s = std::string("czifs ") + CZIFS_VERSION + "\n";
  s += czifs::CodecLibraryVersions();
  s += czifs::TiffLibraryVersion();
  s += fmt::format("spdlog {}.{}.{}\n", SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH);
  s += czifs::FuseLibraryVersion();
  return s;
}

// Summarizes each file (text: one after the other; JSON: one object, or an
// array of them for several files). A file that does not open is reported
// and the others still summarized.
int RunInspect(const std::vector<std::string>& files, bool json) {
  auto session = czifs::Session::Create(64 << 20);
  int rc = 0;
  std::vector<std::string> objects;
  for (const std::string& file : files) {
    auto doc = czifs::CziDocument::Open(file, session);
    if (!doc.ok()) {
      std::fprintf(stderr, "czifs: %s: %s\n", file.c_str(), doc.status().ToString().c_str());
      rc = kExitProblems;
      continue;
    }
    if (json) {
      objects.push_back(czifs::InfoJson((*doc)->report()));
    } else {
      if (&file != &files.front()) std::fputs("\n", stdout);
      std::fputs(czifs::InfoText((*doc)->report()).c_str(), stdout);
    }
  }
  if (json && files.size() == 1 && objects.size() == 1) {
    std::fputs(objects[0].c_str(), stdout);
  } else if (json) {
    std::string array = "[\n";
    for (size_t i = 0; i < objects.size(); ++i) {
      std::string o = objects[i];
      while (!o.empty() && o.back() == '\n') o.pop_back();
      array += o + (i + 1 < objects.size() ? ",\n" : "\n");
    }
    std::fputs((array + "]\n").c_str(), stdout);
  }
  return rc;
}

// Set by SIGINT/SIGTERM during an export: files being written are dropped,
// complete ones kept; the signal's number, for the exit code.
std::atomic<bool> g_export_stop{false};
std::atomic<int> g_export_signal{0};

void OnExportSignal(int sig) {
  g_export_signal.store(sig);
  g_export_stop.store(true);
}

void CatchExportSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnExportSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int RunExport(const std::vector<std::string>& sources, const std::string& outdir, unsigned threads,
              uint64_t cache_bytes, bool overwrite, const czifs::TreeOptions& options) {
  czifs::TuneAllocator();
  czifs::ExportOptions opts;
  opts.threads = threads;
  opts.show_progress = ::isatty(STDERR_FILENO);
  opts.overwrite = overwrite;
  opts.stop = &g_export_stop;
  CatchExportSignals();
  auto report =
      czifs::ExportSources(sources, czifs::Session::Create(cache_bytes), options, outdir, opts);
  if (!report.ok()) {
    std::fprintf(stderr, "czifs: %s\n", report.status().ToString().c_str());
    return kExitProblems;
  }
  for (const auto& p : report->problems) std::fprintf(stderr, "czifs: %s\n", p.ToString().c_str());
  const size_t problems = report->problems.size();
  std::string line =
      fmt::format("wrote {} files ({} planes, {:.1f} MB) in {:.2f} s", report->files_written,
                  report->planes_written, report->bytes_written / 1e6, report->seconds);
  if (report->files_skipped) {
    line += fmt::format("; {} already complete, kept", report->files_skipped);
  }
  if (problems) line += fmt::format("; {} problem(s)", problems);
  std::fprintf(stderr, "czifs: %s\n", line.c_str());
  if (report->stopped && report->files_total == 0) {
    std::fprintf(stderr,
                 "czifs: interrupted while looking at the source: nothing written; run the "
                 "same command again to export\n");
    return 128 + g_export_signal.load();
  }
  if (report->stopped) {
    const uint64_t left = report->files_total - report->files_written - report->files_skipped;
    std::fprintf(stderr,
                 "czifs: interrupted: %llu of %llu files not written (no incomplete file is "
                 "left under its name); run the same command again to finish\n",
                 static_cast<unsigned long long>(left),
                 static_cast<unsigned long long>(report->files_total));
    return 128 + g_export_signal.load();
  }
  return problems ? kExitProblems : 0;
}

}  // namespace

constexpr const char* kUsage =
    "czifs: Zeiss CZI files as folders of TIFF images.\n"
    "  czifs [options] SOURCE... MOUNTPOINT   mount (SOURCE: a .czi file or a folder)\n"
    "  czifs inspect FILE.czi... [--json]     summarize files\n"
    "  czifs export SOURCE... OUTDIR [-j N]   write the tree a mount shows to disk\n"
    "Unmount with: fusermount3 -u MOUNTPOINT";

int RunMountCommand(int argc, char** argv) {
  CLI::App app{kUsage};
  app.set_version_flag("-V,--version", VersionText());
  czifs::MountOptions o;
  std::vector<std::string> positional;
  std::vector<std::string> dash_o;  // -o values: czifs' own and libfuse's, split below
  app.add_option("SOURCE... MOUNTPOINT", positional, "CZI files or folders, then the mount point")
      ->expected(0, -1);
  app.add_flag("-f,--foreground", o.foreground, "Stay in the foreground (Ctrl-C unmounts)");
  app.add_flag("-d,--debug", o.debug, "Debug output from libfuse and czifs (implies -f)");
  app.add_flag("-s,--single-thread", o.single_thread, "Serve FUSE requests on one thread");
  app.add_option(
         "-o", dash_o,
         "Mount options, comma-separated: allow_other, default_permissions, ... and "
         "czifs' own threads=N, cache_size=SIZE, log_level=L, log_file=F, damaged=fail|zero, "
         "without=LIST (':'-separated), max_threads=N (FUSE request threads, 1 to 4096), "
         "watch=auto|inotify|ttl, ttl=SECONDS, parsed_files=N, parsed_memory=SIZE, zarr_chunk=N, "
         "readahead=SIZE")
      ->allow_extra_args(false);  // one list per -o: what follows is SOURCE... MOUNTPOINT
  app.add_option("--threads", o.threads, "Decode threads, 1 to 1024 (default: number of cores)")
      ->check(CLI::Range(1u, czifs::kMaxDecodeThreads));
  app.add_option("--cache-size", o.cache_bytes,
                 "Decoded-subblock cache, e.g. 512M, 2G "
                 "(default: min(1G, RAM/4))")
      ->transform(ByteSize());
  app.add_option("--readahead", o.kernel_readahead_bytes,
                 "The kernel's readahead for this mount, 4K to 64M, or 0 to keep the kernel's "
                 "(128K): larger reads of each file, fewer round trips (only root may set it; "
                 "default: 1M)")
      ->transform(ByteSize(true));
  AddLogLevelOption(&app, &o.log_level);
  app.add_option("--log-file", o.log_file,
                 "Log here (default: stderr in the foreground, "
                 "syslog in the background)");
  app.add_option("--damaged", o.tree.damaged,
                 "A tile whose data does not decode: fail (the plane's reads fail with EIO) or "
                 "zero (the tile is served as zeros, logged)")
      ->transform(OneOf(czifs::kDamagedTilesNames))
      ->default_str("fail");
  std::string without;
  app.add_option("--without", without, kWithoutHelp)->check(WithoutList());
  AddZarrChunkOption(&app, &o.tree.shown);
  app.add_option("--watch", o.live.watch,
                 "How changes in the sources are noticed: auto (inotify, or the TTL on network "
                 "file systems: NFS, SMB, Lustre, ...), inotify, or ttl")
      ->transform(OneOf(czifs::LiveOptions::kWatchNames))
      ->default_str("auto");
  app.add_option("--ttl", o.live.ttl_seconds,
                 "Seconds after which a source folder or file is looked at again where inotify "
                 "does not see changes, and a file that failed to open is tried again")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--parsed-files", o.live.max_documents,
                 "CZI files kept parsed in memory at once; beyond it the least recently used are "
                 "let go and parsed again when next used (1 to 1000000)")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  app.add_option("--parsed-memory", o.live.max_document_bytes,
                 "Memory the parsed CZI files may hold at once, e.g. 256M, 1G (default: "
                 "min(1G, RAM/4)); beyond it the least recently used are let go too")
      ->transform(ByteSize());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (positional.size() < 2) {
    return Usage(
        "needs at least one SOURCE and a MOUNTPOINT: czifs [options] SOURCE... MOUNTPOINT");
  }
  std::string error;
  czifs::ParseWithout(without, &o.tree.shown, &error);  // checked by CLI11
  if (!czifs::SplitMountOptions(dash_o, &o, &o.fuse_options, &error)) return Usage(error);
  if (std::string why = czifs::CheckMountOptions(o); !why.empty()) return Usage(why);
  o.mountpoint = NormalPath(positional.back());
  positional.pop_back();
  for (const auto& src : positional) o.sources.push_back(NormalPath(src));
  if (!o.log_file.empty()) o.log_file = std::filesystem::absolute(o.log_file).string();
  return czifs::RunMount(std::move(o));
}

int main(int argc, char** argv) {
  const bool subcommand =
      argc >= 2 && (std::strcmp(argv[1], "inspect") == 0 || std::strcmp(argv[1], "export") == 0);
  if (!subcommand) return RunMountCommand(argc, argv);
  CLI::App app{
      "czifs: Zeiss CZI files as folders of TIFF images.\n"
      "  czifs inspect FILE.czi... [--json]\n"
      "  czifs export SOURCE... OUTDIR [-j N]"};
  app.set_version_flag("-V,--version", VersionText());
  app.require_subcommand(1);
  std::string log_level = "warn";

  auto* inspect = app.add_subcommand("inspect", "Summarize a CZI file");
  std::vector<std::string> inspect_files;
  bool json = false;
  inspect->add_option("FILE", inspect_files, "CZI files")->required();
  inspect->add_flag("--json", json, "Print the summary as JSON (the tree's info.json)");
  AddLogLevelOption(inspect, &log_level);

  auto* exp = app.add_subcommand(
      "export",
      "Write the tree a mount of the same sources shows to disk (planes, hyperstacks, "
      "OME-TIFF and OME-Zarr images, tiles/, pyramid/, attachments/, info.json, metadata.xml, "
      "planetable.csv)");
  std::vector<std::string> export_paths;
  unsigned threads = 0;
  uint64_t cache_bytes = czifs::DefaultCacheBytes(czifs::ReadMemoryLimit());
  exp->add_option("SOURCE... OUTDIR", export_paths,
                  "CZI files or folders (searched recursively for *.czi), named as a mount of "
                  "them names them, then the output folder")
      ->expected(0, -1);
  exp->add_option("-j,--threads", threads, "Parallel workers (default: number of cores)");
  exp->add_option("--cache-size", cache_bytes,
                  "Decoded subblock cache, e.g. 512M, 2G (default: min(1G, RAM/4))")
      ->transform(ByteSize());
  czifs::TreeOptions options;
  exp->add_option("--damaged", options.damaged,
                  "A tile whose data does not decode: fail (its plane is not written) or zero "
                  "(the tile is written as zeros, logged)")
      ->transform(OneOf(czifs::kDamagedTilesNames))
      ->default_str("fail");
  std::string without;
  exp->add_option("--without", without, kWithoutHelp)->check(WithoutList());
  AddZarrChunkOption(exp, &options.shown);
  bool overwrite = false;
  exp->add_flag("--overwrite", overwrite,
                "Write every file again (default: files an earlier, interrupted run of the "
                "same export finished are kept)");
  AddLogLevelOption(exp, &log_level);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  auto logger = spdlog::stderr_color_mt("czifs");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*inspect) return RunInspect(inspect_files, json);
  if (export_paths.size() < 2) {
    return Usage("export needs at least one SOURCE and an OUTDIR: czifs export SOURCE... OUTDIR");
  }
  if (exp->count("--cache-size") > 0) {
    std::string note;
    cache_bytes = czifs::CheckedCacheBytes(cache_bytes, &note);
    if (!note.empty()) std::fprintf(stderr, "czifs: %s\n", note.c_str());
  }
  std::string why;
  czifs::ParseWithout(without, &options.shown, &why);  // checked by CLI11
  const std::string outdir = NormalPath(export_paths.back());
  export_paths.pop_back();
  for (std::string& p : export_paths) p = NormalPath(p);
  return RunExport(export_paths, outdir, threads, cache_bytes, overwrite, options);
}
