// Instances: the list, the launch wizard and one instance's page (in pages/instances/).
export { Instances } from "./instances/list";
export { InstanceLaunch } from "./instances/launch";
export { InstanceDetail } from "./instances/detail";
