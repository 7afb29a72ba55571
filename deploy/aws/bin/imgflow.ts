// Entry point of `npx cdk synth` / `npx cdk deploy` (cdk.json "app").
import { buildApp } from '../lib/app';

buildApp().app.synth();
