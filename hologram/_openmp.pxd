# The one place that knows whether OpenMP is available (ISA engine guidance, GUIDE-cython §1.4).
# Without -fopenmp the macros below make the VM a serial program.
cdef extern from *:
    """
    #ifdef _OPENMP
        #include <omp.h>
        #define HOLOGRAM_HAVE_OPENMP 1
    #else
        #define HOLOGRAM_HAVE_OPENMP 0
        #define omp_get_max_threads() 1
        #define omp_get_num_threads() 1
    #endif
    """
    bint HOLOGRAM_HAVE_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_threads() noexcept nogil
