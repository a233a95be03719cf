// planetable.csv, computed as czitools' get_planetable does, plus czifs columns.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <system_error>
#include <thread>
#include <tuple>

#include "czifs/report.h"

namespace czifs {
namespace {

// One row before formatting: 56 bytes a subblock (what czitools keeps of
// its tags, NaN where a tag is missing).
struct Row {
  uint32_t subblock;
  int32_t s, m, t, c, z;
  double stage_x, stage_y, focus, time;
};

constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

double OrNone(const std::optional<double>& v) { return v ? *v : kNone; }
double OrZero(double v) { return std::isnan(v) ? 0.0 : v; }

// The rows of the layer-0 subblocks in [first, end), tags read from their headers.
Status ReadRowsIn(const ReportInput& in, uint32_t first, uint32_t end, std::vector<Row>* rows) {
  const auto& sbs = in.czi.subblocks();
  std::string xml;
  for (uint32_t sb = first; sb < end; ++sb) {
    if (!sbs.is_layer0(sb)) continue;
    CZIFS_RETURN_IF_ERROR(in.czi.ReadSubblockHead(sb, &xml).status());
    const SubblockTags tags = ParseSubblockTags(xml);
    rows->push_back({sb, sbs.coord(sb, Dim::kS), 0, sbs.coord(sb, Dim::kT), sbs.coord(sb, Dim::kC),
                     sbs.coord(sb, Dim::kZ), OrNone(tags.stage_x_um), OrNone(tags.stage_y_um),
                     OrNone(tags.focus_um), OrNone(tags.acquisition_time)});
  }
  return Status::Ok();
}

// Every layer-0 subblock's row, its tags read from its header (one read
// and one XML parse each: a file of millions of subblocks is read by a few
// threads, each a range of the directory), in czitools' order (S, M, T, C,
// Z; M counted per S, T, C, Z in file order).
Result<std::vector<Row>> ReadRows(const ReportInput& in, uint32_t per_thread) {
  const auto n = static_cast<uint32_t>(in.czi.subblocks().size());
  const uint32_t parts =
      std::clamp<uint32_t>(n / std::max(1u, per_thread), 1,
                           std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  std::vector<std::vector<Row>> part_rows(parts);
  std::vector<Status> part_status(parts);
  auto range = [&](uint32_t k) {
    return std::make_pair(static_cast<uint32_t>(uint64_t{n} * k / parts),
                          static_cast<uint32_t>(uint64_t{n} * (k + 1) / parts));
  };
  // Each part reads into its own rows; nothing may escape a thread.
  auto read_part = [&](uint32_t k) {
    try {
      const auto [a, b] = range(k);
      part_status[k] = ReadRowsIn(in, a, b, &part_rows[k]);
    } catch (const std::exception& e) {
      part_status[k] = Status::ResourceExhausted(std::string("planetable.csv: ") + e.what());
    } catch (...) {
      part_status[k] = Status::ResourceExhausted("planetable.csv: reading its rows failed");
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(parts);
  for (uint32_t k = 1; k < parts; ++k) {
    try {
      threads.emplace_back(read_part, k);
    } catch (const std::system_error&) {  // no thread to be had: this one reads that part
      read_part(k);
    }
  }
  read_part(0);
  for (std::thread& t : threads) t.join();
  std::vector<Row> rows;
  for (uint32_t k = 0; k < parts; ++k) {
    CZIFS_RETURN_IF_ERROR(part_status[k]);
    rows.insert(rows.end(), part_rows[k].begin(), part_rows[k].end());
    std::vector<Row>().swap(part_rows[k]);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.s, a.t, a.c, a.z) < std::tie(b.s, b.t, b.c, b.z);
  });
  for (size_t i = 0; i < rows.size(); ++i) {
    const bool same =
        i > 0 && std::tie(rows[i].s, rows[i].t, rows[i].c, rows[i].z) ==
                     std::tie(rows[i - 1].s, rows[i - 1].t, rows[i - 1].c, rows[i - 1].z);
    rows[i].m = same ? rows[i - 1].m + 1 : 0;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.s, a.m, a.t, a.c, a.z) < std::tie(b.s, b.m, b.t, b.c, b.z);
  });
  return rows;
}

// Appends row `i` to `out`; `t0` is the earliest acquisition time (NaN: none).
void FormatRow(const ReportInput& in, size_t i, const Row& r, double t0, std::string* out) {
  const SubblockEntry e = in.czi.subblocks()[r.subblock];
  double time = 0.0;
  if (!std::isnan(r.time) && !std::isnan(t0)) time = std::round((r.time - t0) * 1000.0) / 1000.0;
  fmt::format_to(std::back_inserter(*out), "{},{},{},{},{},{},", i, r.s, r.m, r.t, r.c, r.z);
  *out += FormatDouble(OrZero(r.stage_x)) + "," + FormatDouble(OrZero(r.stage_y)) + "," +
          FormatDouble(OrZero(r.focus)) + "," + FormatDouble(time) + ",";
  fmt::format_to(std::back_inserter(*out), "{},{},{},{},", e.x, e.y, e.width, e.height);
  // The other dimensions, and the file's own M: empty where the subblock has none.
  for (Dim d : kSuffixDims) {
    if (e.Has(d)) *out += std::to_string(e.Coord(d));
    *out += ",";
  }
  fmt::format_to(std::back_inserter(*out), "{},", e.index);
  if (e.Has(Dim::kM)) *out += std::to_string(e.Coord(Dim::kM));
  *out += "," + PixelTypeName(e.pixel_type) + "," + CompressionName(e.compression) + ",";
  const int32_t p = in.index.plane_of_subblock()[e.index];
  if (p >= 0 && in.index.planes()[p].unsupported.empty()) {
    *out += in.catalog.PlanePathOf(static_cast<uint32_t>(p));
  }
  *out += ",";
  if (TileProblem(e).empty()) *out += in.catalog.TilePathOf(e.index);
  *out += "\n";
}

}  // namespace

Status WritePlaneTableCsv(const ReportInput& in, const std::function<void(std::string)>& chunk,
                          uint32_t rows_per_thread) {
  CZIFS_ASSIGN_OR_RETURN(std::vector<Row> rows, ReadRows(in, rows_per_thread));
  double t0 = kNone;
  for (const Row& r : rows) {
    if (!std::isnan(r.time) && (std::isnan(t0) || r.time < t0)) t0 = r.time;
  }
  constexpr size_t kChunk = 1 << 20;
  std::string out =
      "Subblock,S,M,T,C,Z,X[micron],Y[micron],Z[micron],Time[s],xstart,ystart,width,height,"
      "H,I,R,V,B,A,subblock_index,m_index,pixel_type,compression,plane,tile\n";
  const bool big = rows.size() * 64 > kChunk;  // rows are longer than 64 bytes
  if (big) out.reserve(kChunk + 4096);
  for (size_t i = 0; i < rows.size(); ++i) {
    FormatRow(in, i, rows[i], t0, &out);
    if (out.size() >= kChunk) {
      chunk(std::move(out));
      out.clear();
      out.reserve(kChunk + 4096);
    }
  }
  if (!out.empty()) {
    out.shrink_to_fit();  // the last piece: at most one small copy
    chunk(std::move(out));
  }
  return Status::Ok();
}

Result<std::string> PlaneTableCsv(const ReportInput& in, uint32_t rows_per_thread) {
  std::string all;
  CZIFS_RETURN_IF_ERROR(WritePlaneTableCsv(
      in, [&](std::string part) { all += part; }, rows_per_thread));
  return all;
}

}  // namespace czifs
