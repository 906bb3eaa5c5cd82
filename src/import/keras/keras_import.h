/* Keras importer: .h5 (tf.keras 1.x/2.x, standalone Keras 2.0-2.3, Keras 3 legacy .h5) and Keras 3 .keras. */
#ifndef KILN_IMPORT_KERAS_IMPORT_H
#define KILN_IMPORT_KERAS_IMPORT_H

#include "../../core/graph.h"

/* Import the Keras model saved in the HDF5 file at path. On success *out is a new graph owned by the caller
 * (kiln_graph_free): NHWC, batch placeholder 1, node names = Keras layer names. On failure *out is NULL and the
 * diagnostic names the file, the layer(s) and the reason; unsupported layers are all listed in one message. */
kiln_status kiln_keras_import_h5(const char *path, kiln_graph **out);
/* Import a Keras 3 native .keras archive (zip: config.json + model.weights.h5); same contract as above. */
kiln_status kiln_keras_import_zip(const char *path, kiln_graph **out);

#endif
