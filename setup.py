from setuptools import find_packages, setup

setup(
    name="svdnet-inversion",
    version="0.1.0",
    description=(
        "Feature inversion of the SVDNet singing-voice detector "
        "(Mishra, Sturm & Dixon, ISMIR 2018), in PyTorch"
    ),
    python_requires=">=3.10",
    packages=find_packages(include=["svdnet", "svdnet.*", "inverters", "inverters.*"]),
    install_requires=[
        line.strip()
        for line in open("requirements.txt")
        if line.strip() and not line.startswith("#")
    ],
    # Test tools pinned to versions known to pass, so a fresh install tests the same way.
    extras_require={
        "test": ["pytest==9.2.0", "hypothesis==6.170.17", "ruff==0.17.6", "mutmut==3.8.1"]
    },
    entry_points={"console_scripts": ["svdnet-invert = inverters.cli:main"]},
)
