// planetable.csv, computed as czitools' get_planetable does, plus czifs columns.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "czifs/report.h"

namespace czifs {
namespace {

struct Row {
  uint32_t subblock;
  int32_t s, m, t, c, z;
  SubblockTags tags;
};

}  // namespace

Result<std::string> PlaneTableCsv(const ReportInput& in) {
  const auto& sbs = in.czi.subblocks();
  std::vector<Row> rows;
  std::map<std::tuple<int32_t, int32_t, int32_t, int32_t>, int32_t> seen;  // S,T,C,Z → count
  std::optional<double> t0;
  for (const SubblockEntry& e : sbs) {
    if (!e.IsLayer0()) continue;
    Row r;
    r.subblock = e.index;
    r.s = e.Coord(Dim::kS);
    r.t = e.Coord(Dim::kT);
    r.c = e.Coord(Dim::kC);
    r.z = e.Coord(Dim::kZ);
    r.m = seen[{r.s, r.t, r.c, r.z}]++;
    std::string xml;
    auto head = in.czi.ReadSubblockHead(e.index, &xml);
    if (!head.ok()) return head.status();
    r.tags = ParseSubblockTags(xml);
    if (r.tags.acquisition_time && (!t0 || *r.tags.acquisition_time < *t0)) {
      t0 = r.tags.acquisition_time;
    }
    rows.push_back(std::move(r));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.s, a.m, a.t, a.c, a.z) < std::tie(b.s, b.m, b.t, b.c, b.z);
  });
  std::string out =
      "Subblock,S,M,T,C,Z,X[micron],Y[micron],Z[micron],Time[s],xstart,ystart,width,height,"
      "subblock_index,m_index,pixel_type,compression,plane,tile\n";
  const auto& plane_of = in.index.plane_of_subblock();
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const SubblockEntry& e = sbs[r.subblock];
    double time = 0.0;
    if (r.tags.acquisition_time && t0) {
      time = std::round((*r.tags.acquisition_time - *t0) * 1000.0) / 1000.0;
    }
    out += fmt::format("{},{},{},{},{},{},", i, r.s, r.m, r.t, r.c, r.z);
    out += FormatDouble(r.tags.stage_x_um.value_or(0.0)) + "," +
           FormatDouble(r.tags.stage_y_um.value_or(0.0)) + "," +
           FormatDouble(r.tags.focus_um.value_or(0.0)) + "," + FormatDouble(time) + ",";
    out += fmt::format("{},{},{},{},", e.x, e.y, e.width, e.height);
    out += fmt::format("{},{},", e.index,
                       (e.Has(Dim::kM) ? std::to_string(e.Coord(Dim::kM)) : std::string()));
    out += PixelTypeName(e.pixel_type) + "," + CompressionName(e.compression) + ",";
    const int32_t p = plane_of[e.index];
    if (p >= 0 && in.index.planes()[p].unsupported.empty()) {
      out += in.catalog.PlanePathOf(static_cast<uint32_t>(p));
    }
    out += ",";
    if (TileProblem(e).empty()) out += in.catalog.TilePathOf(e.index);
    out += "\n";
  }
  return out;
}

}  // namespace czifs
