/* core/ocr_textlock.c — one process-wide lock around cairo/pango text.
 *
 * Cairo 1.16 (Debian 12) shares scaled fonts and their glyph caches between
 * all threads of a process and corrupts them under concurrent use (a crash
 * in cairo_scaled_font_glyph_extents with two threads drawing text; fixed
 * upstream in 1.17). Text is drawn from several places that can run at the
 * same time — synthetic-data generator threads, batch workers drawing
 * overlays, the trainer's plots — so they all take this lock. Its scope is
 * the scope of what it protects (the process's font caches), which is why it
 * is a static and not a member of some context. */
#include <pthread.h>

#include "core/ocr.h"

static pthread_mutex_t text_lock = PTHREAD_MUTEX_INITIALIZER;

void ocr_text_lock(void) { pthread_mutex_lock(&text_lock); }
void ocr_text_unlock(void) { pthread_mutex_unlock(&text_lock); }
