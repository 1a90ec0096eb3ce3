"""The only code that talks to the kernel: rtnetlink messages (`netlink`), named network
namespaces (`netns`), sysctls (`sysctl`) and nftables transactions (`nft`).

Standard library only, and cheap to import: the CNI plugin runs these modules on every ADD and
must start in a few milliseconds. Nothing here decides what to create; callers (`cni/`, `linux/`)
do, and these modules carry it out.
"""
