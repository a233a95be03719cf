// czifs' version, for --version and the logs.
#pragma once
#define CZIFS_VERSION "0.1.0"
