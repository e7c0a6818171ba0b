/* vision/vis.h — internal header of vision/: preprocessing, SAM-B and CLIP-L
 * blocks, compressor, projector (vis_). */
#ifndef VLOCR_VISION_VIS_H
#define VLOCR_VISION_VIS_H

#include "core/ocr.h"

/* Every tensor a DeepEncoder with config `c` must have, appended to s
 * (model.sam_model.*, model.vision_model.*, model.projector.*,
 * model.image_newline, model.view_seperator). */
ocr_status vis_spec_build(ocr_spec *s, const ocr_vis_config *c, ocr_err *e);

#endif
