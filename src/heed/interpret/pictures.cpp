#include "heed/interpret/pictures.h"

#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>

#include "heed/core/error.h"

namespace heed::interpret {

namespace {
using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using Context = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

constexpr int kPanel = 256;   // pixels per overlay panel side
constexpr int kMargin = 16;
constexpr int kTitle = 44;    // title band height
constexpr int kCaption = 24;  // under each panel
constexpr int kBar = 18;      // colour bar width
const char* kFont = "DejaVu Sans";

// Fontconfig keeps its configuration and cairo its font map until the process ends, which a
// leak checker reports. Once the process has drawn, both are released at exit (after every
// cairo object is gone: they are all scoped to one drawing call).
struct FontCaches {
  bool used = false;
  ~FontCaches() {
    if (!used) return;
    cairo_debug_reset_static_data();
    FcFini();
  }
};
FontCaches font_caches;

Surface image_surface(int w, int h) {
  font_caches.used = true;
  return Surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h), cairo_surface_destroy);
}

// A w x h surface whose pixel (x, y) is colour(x, y) -> 0xAARRGGBB (opaque).
template <class F>
Surface pixels(int w, int h, F&& colour) {
  Surface s = image_surface(w, h);
  cairo_surface_flush(s.get());
  unsigned char* data = cairo_image_surface_get_data(s.get());
  const int stride = cairo_image_surface_get_stride(s.get());
  for (int y = 0; y < h; ++y) {
    auto* row = reinterpret_cast<uint32_t*>(data + y * stride);
    for (int x = 0; x < w; ++x) row[x] = colour(x, y);
  }
  cairo_surface_mark_dirty(s.get());
  return s;
}

uint32_t argb(const float rgb[3], float alpha = 1.f) {
  // Cairo's ARGB32 is premultiplied.
  auto c = [&](float v) { return uint32_t(std::lround(std::clamp(v * alpha, 0.f, 1.f) * 255.f)); };
  return (uint32_t(std::lround(alpha * 255.f)) << 24) | (c(rgb[0]) << 16) | (c(rgb[1]) << 8) | c(rgb[2]);
}

void text(cairo_t* cr, double x, double y, double size, const std::string& s, bool bold = false) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  cairo_move_to(cr, x, y);
  cairo_show_text(cr, s.c_str());
}

// Draws `src` (w x h) scaled into the rectangle, with the given filter.
void blit(cairo_t* cr, cairo_surface_t* src, int w, int h, double x, double y, double width,
          double height, cairo_filter_t filter, double alpha = 1.0) {
  cairo_save(cr);
  cairo_rectangle(cr, x, y, width, height);
  cairo_clip(cr);
  cairo_translate(cr, x, y);
  cairo_scale(cr, width / w, height / h);
  cairo_set_source_surface(cr, src, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), filter);
  cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
  cairo_paint_with_alpha(cr, alpha);
  cairo_restore(cr);
}

void write_png(cairo_surface_t* s, const std::string& path) {
  cairo_surface_flush(s);
  const cairo_status_t status = cairo_surface_write_to_png(s, path.c_str());
  HEED_CHECK(status == CAIRO_STATUS_SUCCESS, path, ": cannot write the picture (",
             cairo_status_to_string(status), ")");
}

Surface grey_image(const Tensor& image) {
  const Tensor im = image.contiguous();
  const int c = int(im.size(0)), h = int(im.size(1)), w = int(im.size(2));
  return pixels(w, h, [&](int x, int y) {
    float rgb[3];
    for (int k = 0; k < 3; ++k) rgb[k] = im.f32()[(c == 3 ? k : 0) * h * w + y * w + x];
    return argb(rgb);
  });
}

void colour_bar(cairo_t* cr, double x, double y, double height) {
  Surface bar = pixels(1, 256, [](int, int yy) {
    float rgb[3];
    colour_map(1.f - float(yy) / 255.f, rgb);
    return argb(rgb);
  });
  blit(cr, bar.get(), 1, 256, x, y, kBar, height, CAIRO_FILTER_BILINEAR);
  text(cr, x + kBar + 4, y + 10, 11, "high");
  text(cr, x + kBar + 4, y + height, 11, "low");
}
}  // namespace

void colour_map(float x, float rgb[3]) {
  // viridis at 0, 0.25, 0.5, 0.75, 1
  static const float anchors[5][3] = {{0.267f, 0.005f, 0.329f}, {0.230f, 0.322f, 0.546f},
                                      {0.128f, 0.567f, 0.551f}, {0.369f, 0.789f, 0.383f},
                                      {0.993f, 0.906f, 0.144f}};
  if (!std::isfinite(x)) x = 0.f;
  const float t = std::clamp(x, 0.f, 1.f) * 4.f;
  const int i = std::min(3, int(t));
  const float f = t - float(i);
  for (int k = 0; k < 3; ++k) rgb[k] = anchors[i][k] * (1.f - f) + anchors[i + 1][k] * f;
}

void draw_overlay(const std::string& path, const Tensor& image, int64_t rows, int64_t cols,
                  const std::vector<RelevancePanel>& panels, const std::string& title) {
  HEED_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3), "draw_overlay: image ",
             image.str(), " must be [1 or 3, H, W]");
  HEED_CHECK(!panels.empty() && rows > 0 && cols > 0, "draw_overlay: nothing to draw");
  const int n = int(panels.size());
  const int width = kMargin + n * (kPanel + kMargin) + kBar + 40;
  const int height = kTitle + kPanel + kCaption + kMargin;
  Surface surface = image_surface(width, height);
  Context cr(cairo_create(surface.get()), cairo_destroy);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  text(cr.get(), kMargin, 28, 18, title, true);
  Surface base = grey_image(image);
  const int ih = int(image.size(1)), iw = int(image.size(2));
  const double panel_h = kPanel, panel_w = kPanel * double(iw) / double(ih);
  for (int p = 0; p < n; ++p) {
    const std::vector<float>& g = panels[size_t(p)].grid;
    HEED_CHECK(int64_t(g.size()) == rows * cols, "draw_overlay: panel '", panels[size_t(p)].title,
               "' has ", g.size(), " values for a ", rows, " x ", cols, " grid");
    float lo = *std::min_element(g.begin(), g.end()), hi = *std::max_element(g.begin(), g.end());
    if (!(hi > lo)) hi = lo + 1.f;
    Surface heat = pixels(int(cols), int(rows), [&](int x, int y) {
      float rgb[3];
      colour_map((g[size_t(y * cols + x)] - lo) / (hi - lo), rgb);
      return argb(rgb);
    });
    const double x0 = kMargin + p * (kPanel + kMargin);
    blit(cr.get(), base.get(), iw, ih, x0, kTitle, panel_w, panel_h, CAIRO_FILTER_NEAREST);
    blit(cr.get(), heat.get(), int(cols), int(rows), x0, kTitle, panel_w, panel_h,
         CAIRO_FILTER_BILINEAR, 0.55);
    text(cr.get(), x0, kTitle + kPanel + 17, 13, panels[size_t(p)].title);
  }
  colour_bar(cr.get(), kMargin + n * (kPanel + kMargin), kTitle, kPanel);
  write_png(surface.get(), path);
}

void draw_tokens(const std::string& path, const std::vector<std::string>& tokens,
                 const std::vector<RelevancePanel>& panels, const std::string& title) {
  HEED_CHECK(!panels.empty(), "draw_tokens: nothing to draw");
  const double width = 900, font = 14, line = 22, pad = 3;
  // Measure first (cairo needs a context for text extents), then draw on a surface that fits.
  Surface probe = image_surface(1, 1);
  Context measure(cairo_create(probe.get()), cairo_destroy);
  cairo_select_font_face(measure.get(), kFont, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(measure.get(), font);
  std::vector<double> widths;
  for (const std::string& t : tokens) {
    cairo_text_extents_t ext;
    cairo_text_extents(measure.get(), t.c_str(), &ext);
    widths.push_back(std::max(ext.x_advance, 4.0) + 2 * pad);
  }
  auto lines_of = [&] {
    int lines = 1;
    double x = 0;
    for (double w : widths) {
      if (x + w > width - 2 * kMargin && x > 0) ++lines, x = 0;
      x += w + 2;
    }
    return lines;
  };
  const double block = lines_of() * line + 30;
  const int height = int(kTitle + block * double(panels.size()) + kMargin);
  Surface surface = image_surface(int(width), height);
  Context cr(cairo_create(surface.get()), cairo_destroy);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  text(cr.get(), kMargin, 28, 18, title, true);
  for (size_t p = 0; p < panels.size(); ++p) {
    const std::vector<float>& g = panels[p].grid;
    HEED_CHECK(g.size() == tokens.size(), "draw_tokens: panel '", panels[p].title, "' has ", g.size(),
               " values for ", tokens.size(), " tokens");
    float lo = *std::min_element(g.begin(), g.end()), hi = *std::max_element(g.begin(), g.end());
    if (!(hi > lo)) hi = lo + 1.f;
    const double y0 = kTitle + block * double(p);
    text(cr.get(), kMargin, y0 + 14, 13, panels[p].title, true);
    double x = kMargin, y = y0 + 22;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (x + widths[i] > width - kMargin && x > kMargin) x = kMargin, y += line;
      float rgb[3];
      const float v = (g[i] - lo) / (hi - lo);
      colour_map(v, rgb);
      cairo_set_source_rgb(cr.get(), rgb[0], rgb[1], rgb[2]);
      cairo_rectangle(cr.get(), x, y, widths[i], line - 3);
      cairo_fill(cr.get());
      cairo_select_font_face(cr.get(), kFont, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
      cairo_set_font_size(cr.get(), font);
      const double ink = v > 0.6 ? 0.0 : 1.0;  // dark text on the bright end of the map
      cairo_set_source_rgb(cr.get(), ink, ink, ink);
      cairo_move_to(cr.get(), x + pad, y + line - 8);
      cairo_show_text(cr.get(), tokens[i].c_str());
      x += widths[i] + 2;
    }
  }
  write_png(surface.get(), path);
}

void draw_heads(const std::string& path, const std::vector<Tensor>& attention, const std::string& title) {
  HEED_CHECK(!attention.empty(), "draw_heads: no layers");
  const int layers = int(attention.size()), heads = int(attention[0].size(0));
  const int t = int(attention[0].size(1));
  const int cell = std::clamp(2 * t, 96, 160), label = 18, gap = 8;
  const int width = 60 + heads * (cell + gap) + kBar + 40;
  const int height = kTitle + label + layers * (cell + gap) + kMargin;
  Surface surface = image_surface(width, height);
  Context cr(cairo_create(surface.get()), cairo_destroy);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  text(cr.get(), kMargin, 28, 18, title, true);
  for (int h = 0; h < heads; ++h)
    text(cr.get(), 60 + h * (cell + gap), kTitle + 12, 12, "head " + std::to_string(h));
  for (int l = 0; l < layers; ++l) {
    const Tensor a = attention[size_t(l)].contiguous();
    HEED_CHECK(a.dim() == 3 && a.size(0) == heads && a.size(1) == t && a.size(2) == t,
               "draw_heads: layer ", l, " is ", a.str(), ", expected [", heads, ", ", t, ", ", t, "]");
    const double y0 = kTitle + label + l * (cell + gap);
    text(cr.get(), 6, y0 + cell / 2.0, 12, "layer " + std::to_string(l));
    for (int h = 0; h < heads; ++h) {
      // Each map scaled to its own maximum: heads differ in how peaked they are.
      const float* m = a.f32() + int64_t(h) * t * t;
      const float hi = std::max(*std::max_element(m, m + t * t), 1e-12f);
      Surface map = pixels(t, t, [&](int x, int y) {
        float rgb[3];
        colour_map(m[y * t + x] / hi, rgb);
        return argb(rgb);
      });
      blit(cr.get(), map.get(), t, t, 60 + h * (cell + gap), y0, cell, cell, CAIRO_FILTER_NEAREST);
    }
  }
  colour_bar(cr.get(), 60 + heads * (cell + gap), kTitle + label, std::min(height - kTitle - label - kMargin, 256));
  write_png(surface.get(), path);
}

namespace {
// Tableau's ten colours: distinct for up to ten overlaid runs, then repeated.
const double kPalette[10][3] = {{0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17},
                                {0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29},
                                {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50}, {0.74, 0.74, 0.13},
                                {0.09, 0.75, 0.81}};

std::string tick_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, std::abs(v) >= 100 ? "%.0f" : std::abs(v) >= 1 ? "%.2f" : "%.3f", v);
  return buf;
}

// One panel: axes, ticks, a line per run for the series `pick` selects.
template <class Pick>
void curve_panel(cairo_t* cr, double x0, double y0, double w, double h, const std::string& title,
                 const std::vector<RunCurves>& runs, Pick&& pick) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, max_epoch = 1;
  for (const RunCurves& r : runs) {
    const std::vector<double>& ys = pick(r);
    for (size_t i = 0; i < ys.size(); ++i)
      if (std::isfinite(ys[i])) {
        lo = std::min(lo, ys[i]);
        hi = std::max(hi, ys[i]);
        max_epoch = std::max(max_epoch, r.epoch[i]);
      }
  }
  text(cr, x0, y0 - 8, 13, title, true);
  cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, x0, y0, w, h);
  cairo_stroke(cr);
  if (!std::isfinite(lo)) {
    text(cr, x0 + 10, y0 + h / 2, 12, "no values");
    return;
  }
  if (!(hi > lo)) hi = lo + 1e-6 + std::abs(lo) * 1e-3;
  const double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  auto px = [&](double e) { return x0 + (max_epoch > 1 ? (e - 1) / (max_epoch - 1) : 0.5) * w; };
  auto py = [&](double v) { return y0 + h - (v - lo) / (hi - lo) * h; };
  for (int t = 0; t <= 4; ++t) {  // y ticks with light grid lines
    const double v = lo + (hi - lo) * t / 4.0;
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, x0, py(v));
    cairo_line_to(cr, x0 + w, py(v));
    cairo_stroke(cr);
    text(cr, x0 - 46, py(v) + 4, 10, tick_label(v));
  }
  const int step = std::max(1, int(max_epoch) / 6);
  for (int e = 1; e <= int(max_epoch); e += step) text(cr, px(e) - 4, y0 + h + 14, 10, std::to_string(e));
  text(cr, x0 + w / 2 - 16, y0 + h + 30, 11, "epoch");
  for (size_t r = 0; r < runs.size(); ++r) {
    const std::vector<double>& ys = pick(runs[r]);
    const double* c = kPalette[r % 10];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    cairo_set_line_width(cr, 2);
    bool drawing = false;
    for (size_t i = 0; i < ys.size(); ++i) {
      if (!std::isfinite(ys[i])) {
        drawing = false;
        continue;
      }
      if (drawing) cairo_line_to(cr, px(runs[r].epoch[i]), py(ys[i]));
      else cairo_move_to(cr, px(runs[r].epoch[i]), py(ys[i]));
      drawing = true;
    }
    cairo_stroke(cr);
    for (size_t i = 0; i < ys.size(); ++i)
      if (std::isfinite(ys[i])) {
        cairo_arc(cr, px(runs[r].epoch[i]), py(ys[i]), 2.5, 0, 2 * M_PI);
        cairo_fill(cr);
      }
  }
}
}  // namespace

void draw_curves(const std::string& path, const std::vector<RunCurves>& runs) {
  HEED_CHECK(!runs.empty(), "plot: no runs");
  const double pw = 300, ph = 220, left = 64, top = 56, gap = 80;
  const int legend = 20 * int(runs.size());
  const int width = int(left + 3 * pw + 2 * gap + 24), height = int(top + ph + 50 + legend + 16);
  Surface surface = image_surface(width, height);
  Context cr(cairo_create(surface.get()), cairo_destroy);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  text(cr.get(), kMargin, 24, 16, "training curves", true);
  std::string metric = runs[0].metric;
  for (const RunCurves& r : runs)
    if (r.metric != metric) metric = "validation metric (differs between runs)";
  curve_panel(cr.get(), left, top, pw, ph, "training loss", runs,
              [](const RunCurves& r) -> const std::vector<double>& { return r.train_loss; });
  curve_panel(cr.get(), left + pw + gap, top, pw, ph, "validation loss", runs,
              [](const RunCurves& r) -> const std::vector<double>& { return r.val_loss; });
  curve_panel(cr.get(), left + 2 * (pw + gap), top, pw, ph, metric, runs,
              [](const RunCurves& r) -> const std::vector<double>& { return r.val_metric; });
  for (size_t r = 0; r < runs.size(); ++r) {
    const double y = top + ph + 52 + 20 * double(r);
    const double* c = kPalette[r % 10];
    cairo_set_source_rgb(cr.get(), c[0], c[1], c[2]);
    cairo_rectangle(cr.get(), left, y - 9, 18, 10);
    cairo_fill(cr.get());
    text(cr.get(), left + 26, y, 12, runs[r].label + " (" + runs[r].metric + ")");
  }
  const std::string tmp = path + ".tmp";
  write_png(surface.get(), tmp);
  HEED_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, path, ": cannot move the picture into place");
}

}  // namespace heed::interpret
