// array.c: placeholder until the array implementation lands.
#include "array.h"
