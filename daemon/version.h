#ifndef KEFU_VERSION_H
#define KEFU_VERSION_H

#define KEFU_VERSION "0.1.0"

#endif
