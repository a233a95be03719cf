// czifs command line: thin glue over the core library.
//
// Exit codes: 0 success; 1 some input could not be read or written (every
// problem printed, one line each); 2 bad usage.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <tiffio.h>
#include <unistd.h>
#include <zstd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <thread>

#include "czifs/export.h"
#include "czifs/tree.h"
#include "czifs/version.h"

namespace {

constexpr int kExitProblems = 1;
constexpr int kExitUsage = 2;

// Parses "512M", "2G", "1048576" into bytes.
bool ParseSize(const std::string& text, uint64_t* out) {
  if (text.empty()) return false;
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &pos);
  } catch (...) {
    return false;
  }
  std::string unit = text.substr(pos);
  uint64_t mul = 1;
  if (unit == "" || unit == "B") mul = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k") mul = 1ull << 10;
  else if (unit == "M" || unit == "MiB") mul = 1ull << 20;
  else if (unit == "G" || unit == "GiB") mul = 1ull << 30;
  else return false;
  *out = v * mul;
  return true;
}

std::string VersionText() {
  std::string s = std::string("czifs ") + CZIFS_VERSION + "\n";
  s += std::string("zstd ") + ZSTD_versionString() + "\n";
  std::string tiff = TIFFGetVersion();
  s += tiff.substr(0, tiff.find('\n')) + "\n";
  s += "spdlog " + std::to_string(SPDLOG_VER_MAJOR) + "." + std::to_string(SPDLOG_VER_MINOR) +
       "." + std::to_string(SPDLOG_VER_PATCH) + "\n";
  s += "libjxr (jxrlib) 1.2\n";
  return s;
}

int RunInspect(const std::string& file, bool json) {
  auto doc = czifs::CziDocument::Open(file, czifs::MakeSubblockCache(64 << 20));
  if (!doc.ok()) {
    std::fprintf(stderr, "czifs: %s: %s\n", file.c_str(), doc.status().ToString().c_str());
    return kExitProblems;
  }
  std::fputs(json ? (*doc)->InfoJson().c_str() : (*doc)->InfoText().c_str(), stdout);
  return 0;
}

int RunExport(const std::string& source, const std::string& outdir, unsigned threads,
              uint64_t cache_bytes) {
  auto tree = czifs::BuildSourceTree(source, czifs::MakeSubblockCache(cache_bytes));
  if (!tree.ok()) {
    std::fprintf(stderr, "czifs: %s\n", tree.status().ToString().c_str());
    return kExitProblems;
  }
  czifs::ExportOptions opts;
  opts.threads = threads;
  opts.show_progress = ::isatty(STDERR_FILENO);
  auto report = czifs::ExportTree(*tree->root, outdir, opts);
  if (!report.ok()) {
    std::fprintf(stderr, "czifs: %s\n", report.status().ToString().c_str());
    return kExitProblems;
  }
  size_t problems = 0;
  for (const auto& p : tree->problems) {
    std::fprintf(stderr, "czifs: %s: %s\n", p.where.c_str(), p.message.c_str());
    ++problems;
  }
  for (const auto& p : report->problems) {
    std::fprintf(stderr, "czifs: %s: %s\n", p.where.c_str(), p.message.c_str());
    ++problems;
  }
  std::fprintf(stderr, "czifs: wrote %llu files (%llu planes, %.1f MB) in %.2f s%s\n",
               static_cast<unsigned long long>(report->files_written),
               static_cast<unsigned long long>(report->planes_written),
               report->bytes_written / 1e6, report->seconds,
               problems ? (", " + std::to_string(problems) + " problem(s)").c_str() : "");
  return problems ? kExitProblems : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"czifs: Zeiss CZI files as folders of TIFF images.\n"
               "  czifs inspect FILE.czi [--json]\n"
               "  czifs export SOURCE OUTDIR [-j N]"};
  app.set_version_flag("-V,--version", VersionText());
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();

  auto* inspect = app.add_subcommand("inspect", "Summarize a CZI file");
  std::string inspect_file;
  bool json = false;
  inspect->add_option("FILE", inspect_file, "CZI file")->required();
  inspect->add_flag("--json", json, "Print the summary as JSON (the tree's info.json)");

  auto* exp = app.add_subcommand(
      "export", "Write the tree (TIFF planes, info.json, metadata.xml, planetable.csv) to disk");
  std::string source, outdir;
  unsigned threads = 0;
  std::string cache_size = "1G";
  exp->add_option("SOURCE", source, "CZI file, or folder searched recursively for *.czi")
      ->required();
  exp->add_option("OUTDIR", outdir, "Output folder")->required();
  exp->add_option("-j,--threads", threads, "Parallel workers (default: number of cores)");
  exp->add_option("--cache-size", cache_size, "Decoded subblock cache, e.g. 512M, 2G")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  auto logger = spdlog::stderr_color_mt("czifs");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*inspect) return RunInspect(inspect_file, json);
  uint64_t cache_bytes = 0;
  if (!ParseSize(cache_size, &cache_bytes) || cache_bytes == 0) {
    std::fprintf(stderr, "czifs: --cache-size: cannot read '%s' (use e.g. 512M or 2G)\n",
                 cache_size.c_str());
    return kExitUsage;
  }
  return RunExport(source, outdir, threads, cache_bytes);
}
